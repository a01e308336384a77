"""Shared fixtures: the engine helpers every exposure test uses."""

from __future__ import annotations

import warnings

# Ibis 12 warns about its own use of a deprecated spelling inside `~bool`; not ours to fix.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"ibis\..*")
