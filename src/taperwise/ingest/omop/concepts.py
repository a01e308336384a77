"""The OMOP concept ids and codes the reader interprets, loaded from knowledge data files with sources.

``knowledge/data/events/omop-drug-types.csv`` (drug_type_concept_id → canonical ``source`` and setting),
``omop-visit-kinds.csv`` (visit concepts → inpatient setting and emergency-visit events) and
``omop-routes.csv`` (route concept names → canonical route). Every row names a reference in
``events/sources.csv``; a row without one is refused. Condition codes → harm events come from the value
set shared with the FHIR reader (`taperwise.knowledge.events.load_harm_codes`), matched by vocabulary and
code rather than by concept id, so that source codes are recognised whatever the vocabulary release.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

from taperwise.errors import KnowledgeError
from taperwise.knowledge.events import check_sources
from taperwise.knowledge.factors import read_data_csv

_EVENTS = resources.files("taperwise.knowledge") / "data" / "events"


@dataclass(frozen=True)
class DrugType:
    concept_id: str
    name: str
    source: str  # canonical `source`: dispense, order, statement, administration
    setting: str


@dataclass(frozen=True)
class OmopConcepts:
    drug_types: dict[str, DrugType]
    inpatient_visits: frozenset[str]
    emergency_visits: frozenset[str]
    routes: dict[str, str]  # lower-case route concept name → canonical route


def _rows(name: str) -> list[dict[str, str]]:
    path = _EVENTS / name
    try:
        rows = list(read_data_csv(path))
    except FileNotFoundError as exc:
        raise KnowledgeError(f"knowledge data file events/{name} is missing") from exc
    check_sources(name, rows, "reference")
    return rows


@cache
def load_omop_concepts() -> OmopConcepts:
    drug_types = {
        row["concept_id"]: DrugType(row["concept_id"], row["concept_name"], row["source"], row["setting"])
        for row in _rows("omop-drug-types.csv")
    }
    visits = _rows("omop-visit-kinds.csv")
    return OmopConcepts(
        drug_types=drug_types,
        inpatient_visits=frozenset(row["concept_id"] for row in visits if row["setting"] == "inpatient"),
        emergency_visits=frozenset(
            row["concept_id"] for row in visits if row["event_kind"] == "emergency_visit"
        ),
        routes={row["concept_name"].strip().lower(): row["route"] for row in _rows("omop-routes.csv")},
    )
