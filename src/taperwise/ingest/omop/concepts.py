"""The OMOP concept ids and codes the reader interprets, loaded from knowledge data files with sources.

``knowledge/data/events/omop-drug-types.csv`` (drug_type_concept_id → canonical ``source`` and setting),
``omop-visit-kinds.csv`` (visit concepts → inpatient setting and emergency-visit events),
``omop-event-codes.csv`` (condition codes → opioid-overdose events, matched by vocabulary and code
pattern rather than by concept id, so that ICD-10-CM source codes are recognised whatever the vocabulary
release) and ``omop-routes.csv`` (route concept names → canonical route). Every row names a reference in
``omop-sources.csv``; a row without one is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from taperwise.errors import KnowledgeError
from taperwise.knowledge.factors import read_data_csv

_EVENTS = resources.files("taperwise.knowledge") / "data" / "events"


@dataclass(frozen=True)
class DrugType:
    concept_id: str
    name: str
    source: str  # canonical `source`: dispense, order, statement, administration
    setting: str


@dataclass(frozen=True)
class EventCode:
    kind: str
    vocabulary_id: str
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class OmopConcepts:
    drug_types: dict[str, DrugType]
    inpatient_visits: frozenset[str]
    emergency_visits: frozenset[str]
    event_codes: tuple[EventCode, ...]
    routes: dict[str, str]  # lower-case route concept name → canonical route

    def event_kind(self, vocabulary_id: str | None, code: str | None) -> str | None:
        """The event kind a condition code denotes, or None."""
        if not vocabulary_id or not code:
            return None
        for item in self.event_codes:
            if item.vocabulary_id.lower() == vocabulary_id.lower() and item.pattern.search(code.strip()):
                return item.kind
        return None


def _rows(name: str) -> list[dict[str, str]]:
    path = _EVENTS / name
    try:
        rows = list(read_data_csv(path))
    except FileNotFoundError as exc:
        raise KnowledgeError(f"knowledge data file events/{name} is missing") from exc
    references = _references() if name != "omop-sources.csv" else set()
    for number, row in enumerate(rows, start=2):
        if name != "omop-sources.csv" and row.get("reference", "") not in references:
            raise KnowledgeError(f"events/{name} line {number}: reference {row.get('reference')!r} unknown")
    return rows


@cache
def _references() -> set[str]:
    return {row["reference"] for row in _rows("omop-sources.csv")}


@cache
def load_omop_concepts() -> OmopConcepts:
    drug_types = {
        row["concept_id"]: DrugType(row["concept_id"], row["concept_name"], row["source"], row["setting"])
        for row in _rows("omop-drug-types.csv")
    }
    visits = _rows("omop-visit-kinds.csv")
    try:
        codes = tuple(
            EventCode(row["kind"], row["vocabulary_id"], re.compile(row["code_pattern"], re.IGNORECASE))
            for row in _rows("omop-event-codes.csv")
        )
    except re.error as exc:
        raise KnowledgeError(f"events/omop-event-codes.csv: a code pattern is not valid ({exc})") from exc
    return OmopConcepts(
        drug_types=drug_types,
        inpatient_visits=frozenset(row["concept_id"] for row in visits if row["setting"] == "inpatient"),
        emergency_visits=frozenset(
            row["concept_id"] for row in visits if row["event_kind"] == "emergency_visit"
        ),
        event_codes=codes,
        routes={row["concept_name"].strip().lower(): row["route"] for row in _rows("omop-routes.csv")},
    )
