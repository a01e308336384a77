"""Words every ingest reader writes into canonical patients (docs/exposure.md, "Patients and events").

``sex`` takes FHIR's administrative-gender words: ``female``, ``male``, ``other``, ``unknown``; empty
when the source records nothing (or something that is none of these, which is reported). Event code
systems are `taperwise.knowledge.events.CODE_SYSTEMS`.
"""

from __future__ import annotations

SEXES = ("female", "male", "other", "unknown")


def sex_word(value: object) -> str | None:
    """`value` as one of `SEXES` (any case, spaces trimmed), or None when it is none of them."""
    if not isinstance(value, str):
        return None
    word = value.strip().lower()
    return word if word in SEXES else None
