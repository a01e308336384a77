"""OMOP CDM from a folder of CSVs: each mapping rule and each reported problem, on the hand-made CDM."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from taperwise.errors import UnusableInputError
from taperwise.ingest.omop import read_omop
from tests.ingest.omop.helpers import CDM, Ingested, ingest


@pytest.fixture(scope="module")
def cdm(tmp_path_factory: pytest.TempPathFactory) -> Ingested:
    return ingest(lambda sink: read_omop(CDM, sink), tmp_path_factory.mktemp("cdm"))


def test_every_exposure_is_a_prescription_or_a_problem(cdm: Ingested) -> None:
    written = {row["rx_id"] for row in cdm.prescriptions}
    superseded = {row["record"] for row in cdm.problems_of("order_superseded_by_dispense")}
    assert written | superseded == {str(n) for n in range(101, 109)}
    assert not written & superseded
    assert cdm.sink.records_read["drug_exposure"] == 8


def test_concept_name_becomes_drug_and_rxnorm_code_becomes_rxcui(cdm: Ingested) -> None:
    row = cdm.rx("102")
    assert row["drug"] == "Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet"
    assert row["rxcui"] == "1049221"
    assert (row["patient_id"], row["start_date"], row["days_supply"], row["quantity"]) == (
        "1", "2024-01-05", "30", "120",
    )  # fmt: skip
    assert row["prescriber_id"] == "7"
    assert row["route"] == "oral"
    # RxNorm Extension codes are OMOP's own, not RxCUIs.
    assert cdm.rx("104")["rxcui"] is None


def test_drug_type_concepts_map_to_source(cdm: Ingested) -> None:
    assert cdm.rx("102")["source"] == "dispense"  # 38000175 Prescription dispensed in pharmacy
    assert cdm.rx("103")["source"] == "dispense"  # 32869 Pharmacy claim
    assert cdm.rx("108")["source"] == "order"  # 38000177 Prescription written


def test_order_inside_a_dispense_window_is_superseded_and_reported(cdm: Ingested) -> None:
    (problem,) = cdm.problems_of("order_superseded_by_dispense")
    assert problem["record"] == "101"
    assert "dispense 102" in problem["message"]


def test_order_without_a_dispense_is_kept_and_inpatient_visit_sets_setting(cdm: Ingested) -> None:
    row = cdm.rx("108")
    assert row["setting"] == "inpatient"
    assert cdm.rx("102")["setting"] is None


def test_drug_strength_fills_the_strength_of_an_ingredient_only_concept(cdm: Ingested) -> None:
    row = cdm.rx("103")
    assert (row["drug"], row["strength"], row["strength_unit"]) == ("Fentanyl", "25", "mcg/hr")
    assert row["route"] == "transdermal"


def test_drug_strength_disagreeing_with_the_name_is_reported_and_the_name_wins(cdm: Ingested) -> None:
    (problem,) = cdm.problems_of("strength_conflict")
    assert problem["record"] == "drug_concept_id=3"
    assert "15 mg" in problem["message"]
    assert "30 mg" in problem["message"]
    assert cdm.rx("104")["strength"] is None


def test_zero_quantity_and_days_supply_are_kept_and_reported_for_counted_drugs(cdm: Ingested) -> None:
    row = cdm.rx("104")
    assert (row["quantity"], row["days_supply"]) == ("0", "0")
    assert {p["record"] for p in cdm.problems_of("quantity_missing_or_zero")} == {"104"}
    assert {p["record"] for p in cdm.problems_of("days_supply_missing_or_zero")} == {"104", "106"}
    # Ibuprofen never enters a dose calculation: its zero quantity is passed through unreported.
    assert cdm.rx("107")["quantity"] == "0"


def test_unknown_concept_falls_back_to_the_source_value_and_is_reported(cdm: Ingested) -> None:
    assert cdm.rx("105")["drug"] == "MORPHINE SULFATE 30 MG TAB"
    (problem,) = cdm.problems_of("unknown_concept")
    assert problem["record"] == "105"
    assert "999" in problem["message"]


def test_unmapped_drug_type_is_reported_once_with_its_row_count(cdm: Ingested) -> None:
    assert cdm.rx("106")["source"] is None
    (problem,) = cdm.problems_of("unknown_drug_type")
    assert problem["record"] == "drug_type_concept_id=99999"
    assert problem["message"].startswith("1 row(s)")


def test_provider_zero_is_not_a_prescriber(cdm: Ingested) -> None:
    assert cdm.rx("107")["prescriber_id"] is None


def test_person_and_death_become_patients(cdm: Ingested) -> None:
    patients = {row["patient_id"]: row for row in cdm.patients}
    assert patients["1"] == {
        "patient_id": "1", "sex": "male", "birth_date": "1960-05-03", "death_date": None,
        "organisation_id": "55",
    }  # fmt: skip
    assert (patients["2"]["sex"], patients["2"]["birth_date"]) == ("female", "1970-01-02")
    assert (patients["2"]["death_date"], patients["2"]["organisation_id"]) == ("2024-12-01", "77")
    assert (patients["3"]["sex"], patients["3"]["birth_date"]) == (None, None)
    assert [p["record"] for p in cdm.problems_of("partial_birth_date")] == ["3"]


def test_harm_events_from_death_emergency_visits_and_overdose_codes(cdm: Ingested) -> None:
    events = sorted((e["patient_id"], e["date"], e["kind"], e["code"]) for e in cdm.events)
    assert events == [
        ("1", "2024-07-01", "emergency_visit", "9203"),
        ("1", "2024-07-01", "opioid_overdose", "T40.2X1A"),
        ("2", "2024-08-15", "opioid_overdose", "T40.1X1A"),
        ("2", "2024-12-01", "death", None),
    ]
    # The adverse-effect code T40.2X5A is not an overdose; the undated overdose is reported, not used.
    (bad,) = cdm.problems_of("bad_value")
    assert bad["record"] == "604"


def _copy_cdm(folder: Path, skip: str | None = None) -> Path:
    target = folder / "cdm"
    shutil.copytree(CDM, target)
    if skip:
        (target / f"{skip}.csv").unlink()
    return target


def test_upper_case_file_and_column_names_give_the_same_result(tmp_path: Path, cdm: Ingested) -> None:
    upper = tmp_path / "upper"
    upper.mkdir()
    for path in CDM.iterdir():
        header, _, body = path.read_text(encoding="utf-8").partition("\n")
        (upper / path.name.upper().replace(".CSV", ".csv")).write_text(f"{header.upper()}\n{body}", "utf-8")
    again = ingest(lambda sink: read_omop(upper, sink), tmp_path)
    assert again.prescriptions == cdm.prescriptions
    assert again.events == cdm.events


def test_missing_drug_exposure_table_makes_the_source_unusable(tmp_path: Path) -> None:
    folder = _copy_cdm(tmp_path, skip="drug_exposure")
    with pytest.raises(UnusableInputError, match="drug_exposure not found"):
        ingest(lambda sink: read_omop(folder, sink), tmp_path)


def test_missing_required_column_is_named(tmp_path: Path) -> None:
    folder = _copy_cdm(tmp_path)
    path = folder / "drug_exposure.csv"
    path.write_text(path.read_text().replace("drug_concept_id,", "drug_id,", 1))
    with pytest.raises(UnusableInputError, match=r"required column.*drug_concept_id"):
        ingest(lambda sink: read_omop(folder, sink), tmp_path)


def test_missing_optional_table_is_a_problem_line_and_the_ingest_goes_on(tmp_path: Path) -> None:
    folder = _copy_cdm(tmp_path, skip="drug_strength")
    result = ingest(lambda sink: read_omop(folder, sink), tmp_path)
    assert [p["record"] for p in result.problems_of("missing_table")] == [""]
    assert result.rx("103")["strength"] is None
    assert len(result.prescriptions) == 7


def test_missing_optional_column_is_reported_and_left_empty(tmp_path: Path) -> None:
    folder = _copy_cdm(tmp_path)
    path = folder / "drug_exposure.csv"
    lines = path.read_text().splitlines()
    # Drop the days_supply column (8th) from every line.
    path.write_text("\n".join(",".join(c for i, c in enumerate(line.split(",")) if i != 7) for line in lines))
    result = ingest(lambda sink: read_omop(folder, sink), tmp_path)
    (problem,) = result.problems_of("missing_column")
    assert "days_supply" in problem["message"]
    assert {row["days_supply"] for row in result.prescriptions} == {None}


def test_a_file_that_is_not_an_omop_source_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(UnusableInputError, match="not an OMOP source"):
        ingest(lambda sink: read_omop(path, sink), tmp_path)


def test_progress_is_reported_in_records(cdm: Ingested, tmp_path: Path) -> None:
    seen: list[int] = []
    ingest(lambda sink: read_omop(CDM, sink, on_progress=seen.append), tmp_path)
    assert seen[0] == 8  # drug_exposure first, in one batch
