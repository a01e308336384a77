"""The FHIR and OMOP readers write one convention: the same event kind, code and code system for the same
code (from the shared value set) and the same words for sex."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from taperwise.ingest.conventions import SEXES
from taperwise.ingest.fhir import read_fhir
from taperwise.ingest.omop import read_omop
from taperwise.knowledge.events import CODE_SYSTEMS, load_harm_codes
from tests.ingest.omop.helpers import CDM, Ingested, ingest

FHIR_SYSTEMS = {
    "ICD10CM": "http://hl7.org/fhir/sid/icd-10-cm",
    "ICD10": "http://hl7.org/fhir/sid/icd-10",
    "SNOMED": "http://snomed.info/sct",
}
# (code system, code as a source would record it, the kind both readers must give or None for no event)
CASES = [
    ("ICD10CM", "T40.2X1A", "opioid_overdose"),
    ("ICD10CM", "T402X1A", "opioid_overdose"),
    ("ICD10CM", "T40.421A", "opioid_overdose"),  # came from the OMOP value set (tramadol, FY2021+)
    ("ICD10", "T40.2", "opioid_overdose"),
    ("ICD10CM", "R45.851", "mental_health_crisis"),
    ("SNOMED", "1149222004", "opioid_overdose"),
    ("ICD10CM", "T40.2X1D", None),  # subsequent encounter: care of an overdose already counted
    ("ICD10CM", "T40.2X5A", None),  # adverse effect, not a poisoning
]
# OMOP Gender concept → the FHIR word the FHIR reader writes for the same person.
GENDERS = [("8532", "female"), ("8507", "male"), ("8521", "other"), ("8551", "unknown")]
CONCEPT_HEADER = (
    "concept_id,concept_name,domain_id,vocabulary_id,concept_class_id,standard_concept,concept_code,"
    "valid_start_date,valid_end_date,invalid_reason"
)


def _fhir(tmp_path: Path) -> Ingested:
    folder = tmp_path / "fhir"
    folder.mkdir()
    patients = [
        {"resourceType": "Patient", "id": f"p{n}", "gender": word} for n, (_, word) in enumerate(GENDERS)
    ]
    conditions = [
        {
            "resourceType": "Condition",
            "id": f"c{n}",
            "subject": {"reference": "Patient/p0"},
            "onsetDateTime": f"2024-07-{n + 1:02d}",
            "code": {"coding": [{"system": FHIR_SYSTEMS[system], "code": code}]},
        }
        for n, (system, code, _) in enumerate(CASES)
    ]
    for name, resources in (("Patient.ndjson", patients), ("Condition.ndjson", conditions)):
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in resources), encoding="utf-8")
    return ingest(lambda sink: read_fhir(folder, sink), tmp_path / "fhir-run")


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *rows])


def _omop(tmp_path: Path) -> Ingested:
    """The hand-made CDM with its people and conditions replaced: ICD codes as source values (no source
    concept), the SNOMED code as the standard concept, as OMOP ETLs record them."""
    folder = tmp_path / "omop"
    shutil.copytree(CDM, folder)
    with (folder / "concept.csv").open("a", encoding="utf-8") as handle:
        handle.write("900,Overdose,Condition,SNOMED,Clinical Finding,S,1149222004,1970-01-01,2099-12-31,\n")
    _write(
        folder / "person.csv",
        ["person_id", "gender_concept_id", "year_of_birth", "month_of_birth", "day_of_birth"],
        [[f"p{n}", gender, "1960", "1", "1"] for n, (gender, _) in enumerate(GENDERS)],
    )
    conditions = [
        [f"c{n}", "p0", "900" if system == "SNOMED" else "0", f"2024-07-{n + 1:02d}", "32817"]
        + (["", "0"] if system == "SNOMED" else [code, "0"])
        for n, (system, code, _) in enumerate(CASES)
    ]
    _write(
        folder / "condition_occurrence.csv",
        [
            "condition_occurrence_id", "person_id", "condition_concept_id", "condition_start_date",
            "condition_type_concept_id", "condition_source_value", "condition_source_concept_id",
        ],
        conditions,
    )  # fmt: skip
    for name in ("visit_occurrence.csv", "death.csv"):
        (folder / name).unlink()
    return ingest(lambda sink: read_omop(folder, sink), tmp_path / "omop-run")


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[Ingested, Ingested]:
    return _fhir(tmp_path_factory.mktemp("fhir")), _omop(tmp_path_factory.mktemp("omop"))


def _events_by_date(result: Ingested) -> dict[str, tuple[str | None, ...]]:
    return {str(e["date"]): (e["kind"], e["code"], e["code_system"]) for e in result.events}


def test_both_readers_give_the_same_kind_code_and_code_system_for_the_same_code(
    both: tuple[Ingested, Ingested],
) -> None:
    fhir, omop = both
    expected = {f"2024-07-{n + 1:02d}": kind for n, (_, _, kind) in enumerate(CASES) if kind is not None}
    assert {day: event[0] for day, event in _events_by_date(fhir).items()} == expected
    assert _events_by_date(omop) == _events_by_date(fhir)
    assert _events_by_date(fhir)["2024-07-01"] == ("opioid_overdose", "T40.2X1A", "ICD10CM")
    assert _events_by_date(fhir)["2024-07-02"] == ("opioid_overdose", "T40.2X1A", "ICD10CM")


def test_both_readers_write_fhir_sex_words(both: tuple[Ingested, Ingested]) -> None:
    fhir, omop = both
    expected = {f"p{n}": word for n, (_, word) in enumerate(GENDERS)}
    assert {p["patient_id"]: p["sex"] for p in fhir.patients} == expected
    assert {p["patient_id"]: p["sex"] for p in omop.patients} == expected
    assert set(expected.values()) == set(SEXES)


def test_a_sex_outside_the_convention_is_left_empty_and_reported(tmp_path: Path) -> None:
    folder = tmp_path / "fhir"
    folder.mkdir()
    patient = {"resourceType": "Patient", "id": "p1", "gender": "M<script>"}
    (folder / "Patient.ndjson").write_text(json.dumps(patient) + "\n", encoding="utf-8")
    result = ingest(lambda sink: read_fhir(folder, sink), tmp_path / "run")
    assert result.patients[0]["sex"] is None
    assert [p["record"] for p in result.problems_of("bad_value")] == ["p1"]


def test_an_unknown_omop_gender_concept_is_left_empty_and_reported(tmp_path: Path) -> None:
    folder = tmp_path / "omop"
    shutil.copytree(CDM, folder)
    _write(
        folder / "person.csv", ["person_id", "gender_concept_id", "year_of_birth"], [["9", "12345", "1960"]]
    )
    result = ingest(lambda sink: read_omop(folder, sink), tmp_path / "run")
    assert result.patients[0]["sex"] is None
    assert [p["record"] for p in result.problems_of("unknown_concept") if p["source"] == "person"] == ["9"]


def test_the_value_set_uses_only_the_agreed_code_systems() -> None:
    assert {code.code_system for code in load_harm_codes().values()} == CODE_SYSTEMS - {"OMOP"}
