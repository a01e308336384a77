"""OMOP ``person`` and ``death`` → canonical patients; ``death``, ``visit_occurrence`` and
``condition_occurrence`` → harm events watched after tapering (death, emergency visit, opioid overdose).

Which visit concepts are emergencies is data (``knowledge/data/events/omop-visit-kinds.csv``); which
condition codes are harm events is the value set shared with the FHIR reader
(``knowledge/data/events/harm-codes.csv``, `taperwise.knowledge.events`). A condition is matched on its
*source* concept's code (ICD-10-CM / ICD-10 as recorded), else, when it has no source concept, on its
source value, else on its standard concept's code (SNOMED); the event carries the value set's code and
code system, as the FHIR reader writes them. ``sex`` uses FHIR's words (`taperwise.ingest.conventions`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date

from taperwise.ingest.common import IngestSink
from taperwise.ingest.omop.concepts import OmopConcepts
from taperwise.ingest.omop.source import OmopSource, literal, real_id
from taperwise.knowledge.events import OMOP, HarmCode, load_harm_codes

# OMOP Gender vocabulary (person.gender_concept_id) → FHIR's words: 8507 MALE, 8532 FEMALE, 8521 OTHER,
# 8570 AMBIGUOUS, 8551 UNKNOWN. 0 ("no matching concept") means nothing usable was recorded: left empty.
SEX_BY_GENDER_CONCEPT = {
    "8507": "male",
    "8532": "female",
    "8521": "other",
    "8570": "other",
    "8551": "unknown",
}
CONCEPT_SYSTEM = OMOP
BATCH = 10_000
Progress = Callable[[int], None] | None


def _iso(text: str | None) -> str | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text.strip()[:10]).isoformat()
    except ValueError:
        return None


def _birth_date(year: str | None, month: str | None, day: str | None, stamp: str | None) -> str | None:
    from_stamp = _iso(stamp)
    if from_stamp:
        return from_stamp
    try:
        return date(int(float(year or "")), int(float(month or "")), int(float(day or ""))).isoformat()
    except ValueError:
        return None


def _stream(source: OmopSource, sql: str, on_progress: Progress) -> Iterator[tuple[str | None, ...]]:
    """Rows of `sql` as text tuples, batch by batch (the generator keeps memory flat)."""
    cursor = source.connection.execute(sql)
    while batch := cursor.fetchmany(BATCH):
        if on_progress is not None:
            on_progress(len(batch))
        yield from (tuple(None if v is None else str(v) for v in row) for row in batch)


def read_patients(source: OmopSource, sink: IngestSink, on_progress: Progress) -> None:
    if not source.has("person"):
        return
    deaths = (
        "LEFT JOIN (SELECT person_id, min(death_date) AS death_date FROM death GROUP BY person_id) d "
        "USING (person_id)"
        if source.has("death")
        else "LEFT JOIN (SELECT NULL::VARCHAR AS person_id, NULL::VARCHAR AS death_date) d ON false"
    )
    sql = (
        "SELECT p.person_id, p.gender_concept_id, p.year_of_birth, p.month_of_birth, p.day_of_birth, "
        f"p.birth_datetime, p.care_site_id, p.location_id, d.death_date FROM person p {deaths}"
    )
    for person, gender, year, month, day, stamp, care_site, location, death in _stream(
        source, sql, on_progress
    ):
        sink.read("person")
        record = person or ""
        birth = _birth_date(year, month, day, stamp)
        if birth is None:
            sink.report(
                "person",
                record,
                "partial_birth_date",
                f"birth date not complete (year {year}, month {month}, day {day}); left empty",
            )
        if gender not in (None, "", "0") and gender not in SEX_BY_GENDER_CONCEPT:
            sink.report(
                "person", record, "unknown_concept",
                f"gender_concept_id {gender} is not a Gender concept taperwise knows; sex left empty",
            )  # fmt: skip
        sink.patient(
            {
                "patient_id": person,
                "sex": SEX_BY_GENDER_CONCEPT.get(gender or ""),
                "birth_date": birth,
                "death_date": _iso(death),
                "organisation_id": real_id(care_site) or real_id(location),
            }
        )


def _event(sink: IngestSink, table: str, record: str, row: dict[str, str | None]) -> None:
    when = _iso(row["date"])
    if when is None:
        sink.report(
            table, record, "bad_value", f"{row['kind']} event date {row['date']!r} is not a date; not used"
        )
        return
    sink.event({**row, "date": when})


def read_events(source: OmopSource, sink: IngestSink, concepts: OmopConcepts, on_progress: Progress) -> None:
    if source.has("death"):
        for person, died, cause in _stream(
            source, "SELECT person_id, death_date, cause_concept_id FROM death", on_progress
        ):
            sink.read("death")
            code = cause if cause not in (None, "", "0") else None
            _event(
                sink,
                "death",
                person or "",
                {
                    "patient_id": person,
                    "date": died,
                    "kind": "death",
                    "code": code,
                    "code_system": CONCEPT_SYSTEM if code else None,
                },
            )
    if source.has("visit_occurrence") and concepts.emergency_visits:
        wanted = ", ".join(literal(cid) for cid in sorted(concepts.emergency_visits))
        sql = (
            "SELECT visit_occurrence_id, person_id, visit_start_date, visit_concept_id FROM visit_occurrence "
            f"WHERE visit_concept_id IN ({wanted})"
        )
        for visit, person, start, concept in _stream(source, sql, on_progress):
            _event(
                sink,
                "visit_occurrence",
                visit or "",
                {
                    "patient_id": person,
                    "date": start,
                    "kind": "emergency_visit",
                    "code": concept,
                    "code_system": CONCEPT_SYSTEM,
                },
            )
        count = source.connection.execute("SELECT count(*) FROM visit_occurrence").fetchone()
        sink.read("visit_occurrence", int(count[0]) if count else 0)
    if source.has("condition_occurrence"):
        for occurrence, person, start, kind, code, system in _stream(
            source, _harm_event_sql(load_harm_codes()), on_progress
        ):
            _event(
                sink,
                "condition_occurrence",
                occurrence or "",
                {"patient_id": person, "date": start, "kind": kind, "code": code, "code_system": system},
            )
        count = source.connection.execute("SELECT count(*) FROM condition_occurrence").fetchone()
        sink.read("condition_occurrence", int(count[0]) if count else 0)


def _harm_event_sql(codes: dict[tuple[str, str], HarmCode]) -> str:
    """Conditions whose code is in the harm-event value set, one row per (condition, kind).

    Candidates in order of preference: the source concept's code, the source value (only when there is
    no source concept; any vocabulary), the standard concept's code. Codes are compared as
    `taperwise.knowledge.events.code_key` does: without dots, trimmed, in upper case.
    """
    if not codes:
        return "SELECT NULL, NULL, NULL, NULL, NULL, NULL WHERE false"
    values = ", ".join(
        f"({literal(system)}, {literal(key)}, {literal(code.kind)}, {literal(code.code)})"
        for (system, key), code in sorted(codes.items())
    )
    columns = "co.condition_occurrence_id AS id, co.person_id, co.condition_start_date AS day"
    return f"""
WITH harm(code_system, code_key, kind, code) AS (VALUES {values}),
found AS (
  SELECT {columns}, sc.vocabulary_id AS vocabulary, sc.concept_code AS raw, 1 AS preference
  FROM condition_occurrence co JOIN concept sc ON sc.concept_id = co.condition_source_concept_id
  UNION ALL
  SELECT {columns}, NULL AS vocabulary, co.condition_source_value AS raw, 2 AS preference
  FROM condition_occurrence co LEFT JOIN concept sc ON sc.concept_id = co.condition_source_concept_id
  WHERE sc.concept_id IS NULL
  UNION ALL
  SELECT {columns}, c.vocabulary_id AS vocabulary, c.concept_code AS raw, 3 AS preference
  FROM condition_occurrence co JOIN concept c ON c.concept_id = co.condition_concept_id
)
SELECT f.id, f.person_id, f.day, h.kind, h.code, h.code_system
FROM found f JOIN harm h
  ON h.code_key = upper(trim(replace(coalesce(f.raw, ''), '.', '')))
 AND (f.vocabulary IS NULL OR h.code_system = f.vocabulary)
QUALIFY row_number() OVER (PARTITION BY f.id, h.kind ORDER BY f.preference, h.code_system) = 1
ORDER BY f.id"""
