"""Deliberately malformed prescription records, so every reader's problem reporting is exercised.

Which rows are corrupted, and how, is decided once per chunk here; each writer then spells the
corruption in its own format (a negative quantity is ``-60`` in CSV, a negative ``Quantity.value`` in
FHIR, a negative ``quantity`` in OMOP). Only counted opioid rows after a patient's first fill are chosen:
a negative quantity on a benzodiazepine would be reported as ``not_opioid`` and prove nothing, and a
duplicated ``rx_id`` needs an earlier fill of the same patient to repeat. Every chunk holds at least one
of each kind, in a fixed round-robin order, so a small run is as testable as a large one.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from taperwise.synth.config import Malformed

IntArray = npt.NDArray[np.int64]
NONE = -1


def all_kinds(settings: Malformed) -> tuple[str, ...]:
    """Every kind, canonical first then FHIR-only; a row's malformed code indexes this tuple."""
    return settings.kinds + settings.fhir_kinds


def choose_malformed(
    rng: np.random.Generator, settings: Malformed, eligible: npt.NDArray[np.bool_], enabled: bool
) -> IntArray:
    """Per row, the index of its corruption in `all_kinds`, or NONE."""
    codes = np.full(len(eligible), NONE, dtype=np.int64)
    kinds = all_kinds(settings)
    candidates = np.flatnonzero(eligible)
    if not enabled or len(candidates) < len(kinds):
        return codes
    wanted = max(len(kinds), round(settings.share * len(eligible)))
    rows = np.sort(rng.choice(candidates, size=min(wanted, len(candidates)), replace=False))
    codes[rows] = np.arange(len(rows)) % len(kinds)
    return codes
