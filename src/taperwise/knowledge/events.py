"""The harm-event value set shared by every ingest reader (FHIR, OMOP): which codes mean which event.

``data/events/harm-codes.csv`` holds one row per code: ``kind, code_system, code, display, scope,
source_id, note``. ``data/events/sources.csv`` holds every source a row of ``data/events/`` cites (the
OMOP concept-id tables beside it cite the same file). A row whose source is not there is refused.

Conventions both readers write into canonical events (docs/exposure.md, "Patients and events"):
``code_system`` is one of `CODE_SYSTEMS` (``OMOP`` for an OMOP concept id), and ``code`` is the value
set's own spelling of the code. Codes are compared with dots removed and in upper case, so ``T40.2X1A``,
``t402x1a`` and ``T402X1A`` are one code. Every row is an exact code: ICD-10-CM rows carry the
initial-encounter 7th character, so a subsequent-encounter code (care of an event already counted) is
not a new event.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

from taperwise.errors import KnowledgeError
from taperwise.knowledge.factors import read_data_csv

_EVENTS = resources.files("taperwise.knowledge") / "data" / "events"

ICD10CM, ICD10, SNOMED, ACTCODE, OMOP = "ICD10CM", "ICD10", "SNOMED", "ActCode", "OMOP"
# The short code-system names written into canonical events (OMOP vocabulary ids where one exists).
CODE_SYSTEMS = frozenset({ICD10CM, ICD10, SNOMED, ACTCODE, OMOP})
SCOPES = frozenset({"specific", "broad"})


@dataclass(frozen=True)
class HarmCode:
    kind: str  # opioid_overdose, mental_health_crisis, emergency_visit
    code_system: str
    code: str  # as spelt in the value set, e.g. T40.2X1A
    scope: str  # specific, or broad (kept for sensitivity analyses)
    source_id: str


def code_key(code_system: str, code: str) -> tuple[str, str]:
    """The key a code is matched on: its system and the code without dots, trimmed, in upper case."""
    return code_system, code.replace(".", "").strip().upper()


def _rows(name: str) -> list[dict[str, str]]:
    try:
        return list(read_data_csv(_EVENTS / name))
    except FileNotFoundError as exc:
        raise KnowledgeError(f"knowledge data file events/{name} is missing") from exc


@cache
def load_event_sources() -> frozenset[str]:
    """The source ids of ``events/sources.csv``, which every row of ``data/events/`` must cite."""
    return frozenset(row["source_id"] for row in _rows("sources.csv"))


def check_sources(name: str, rows: list[dict[str, str]], column: str) -> None:
    """Refuse an ``events/`` data file with a row whose `column` names no source in sources.csv."""
    known = load_event_sources()
    for line, row in enumerate(rows, start=2):
        if row.get(column, "") not in known:
            raise KnowledgeError(
                f"events/{name} line {line}: source {row.get(column)!r} is not in sources.csv"
            )


@cache
def load_harm_codes() -> dict[tuple[str, str], HarmCode]:
    """The harm-event value set keyed by `code_key`; a bad system, scope, source or duplicate is refused."""
    rows = _rows("harm-codes.csv")
    check_sources("harm-codes.csv", rows, "source_id")
    codes: dict[tuple[str, str], HarmCode] = {}
    for line, row in enumerate(rows, start=2):
        code = HarmCode(row["kind"], row["code_system"], row["code"], row["scope"], row["source_id"])
        where = f"events/harm-codes.csv line {line}"
        if code.code_system not in CODE_SYSTEMS - {OMOP} or code.scope not in SCOPES or not code.code.strip():
            raise KnowledgeError(f"{where}: code system, scope or code not valid ({row})")
        key = code_key(code.code_system, code.code)
        if key in codes and codes[key].kind != code.kind:
            raise KnowledgeError(f"{where}: {code.code} is already a {codes[key].kind} code")
        codes[key] = code
    return codes
