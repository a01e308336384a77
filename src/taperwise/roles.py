"""The roles a user of the clinical app can hold (docs/store.md says what each may see and do)."""

from __future__ import annotations

ROLES = ("clinician", "pharmacist", "psychologist", "coordinator", "analyst", "admin")
