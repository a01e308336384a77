"""OMOP ``person`` and ``death`` → canonical patients; ``death``, ``visit_occurrence`` and
``condition_occurrence`` → harm events watched after tapering (death, emergency visit, opioid overdose).

Which visit concepts are emergencies and which condition codes are opioid overdoses is data
(``knowledge/data/events/omop-*.csv``, each row with its reference). Overdoses are matched on the
condition's *source* code (ICD-10-CM / ICD-10, as recorded) and, failing that, on its standard concept's
code in the same vocabularies; a site whose conditions carry only SNOMED standard concepts needs a
SNOMED row added to that file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date

from taperwise.ingest.common import IngestSink
from taperwise.ingest.omop.concepts import OmopConcepts
from taperwise.ingest.omop.source import OmopSource, literal, real_id

# OMOP Gender vocabulary (person.gender_concept_id, CDM 5.3/5.4): 8507 MALE, 8532 FEMALE.
SEX_BY_GENDER_CONCEPT = {"8507": "male", "8532": "female"}
CONCEPT_SYSTEM = "OMOP"
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
            source, _overdose_sql(concepts), on_progress
        ):
            _event(
                sink,
                "condition_occurrence",
                occurrence or "",
                {"patient_id": person, "date": start, "kind": kind, "code": code, "code_system": system},
            )
        count = source.connection.execute("SELECT count(*) FROM condition_occurrence").fetchone()
        sink.read("condition_occurrence", int(count[0]) if count else 0)


def _overdose_sql(concepts: OmopConcepts) -> str:
    """Conditions whose source code (or standard code) matches an event-code row, one row per kind."""
    parts = []
    for item in concepts.event_codes:
        vocabulary, pattern = literal(item.vocabulary_id), literal(item.pattern.pattern)
        parts.append(f"""
SELECT co.condition_occurrence_id, co.person_id, co.condition_start_date, {literal(item.kind)} AS kind,
  CASE WHEN sc.vocabulary_id = {vocabulary} AND regexp_matches(sc.concept_code, {pattern}, 'i')
            THEN sc.concept_code
       WHEN sc.concept_id IS NULL AND regexp_matches(coalesce(co.condition_source_value, ''), {pattern}, 'i')
            THEN trim(co.condition_source_value)
       WHEN c.vocabulary_id = {vocabulary} AND regexp_matches(c.concept_code, {pattern}, 'i')
            THEN c.concept_code
  END AS code, {vocabulary} AS code_system
FROM condition_occurrence co
LEFT JOIN concept sc ON sc.concept_id = co.condition_source_concept_id
LEFT JOIN concept c ON c.concept_id = co.condition_concept_id""")
    if not parts:
        return "SELECT NULL, NULL, NULL, NULL, NULL, NULL WHERE false"
    matched = " UNION ALL ".join(parts)
    return (
        f"SELECT * FROM ({matched}) WHERE code IS NOT NULL "
        "QUALIFY row_number() OVER (PARTITION BY condition_occurrence_id, kind ORDER BY code_system) = 1 "
        "ORDER BY condition_occurrence_id"
    )
