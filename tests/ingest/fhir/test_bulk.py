"""Hand-written bulk export (tests/ingest/fhir/data/bulk): each mapping and each failure once."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.ingest.fhir.conftest import DATA, Ingested

BULK = DATA / "bulk"


@pytest.fixture
def bulk(ingest: Callable[..., Ingested]) -> Ingested:
    return ingest(BULK)


def test_records_are_counted_by_resource_type(bulk: Ingested) -> None:
    assert dict(bulk.sink.records_read) == {
        "Medication": 1, "Patient": 3, "MedicationRequest": 8, "MedicationDispense": 2,
        "Encounter": 3, "Condition": 4, "Practitioner": 2,
    }  # fmt: skip


def test_order_maps_product_codes_sig_and_supply(bulk: Ingested) -> None:
    row = bulk.rx("MedicationRequest/rx1")
    assert row["drug"] == "Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet"
    assert (row["rxcui"], row["patient_id"], row["prescriber_id"]) == ("1049221", "p1", "dr-a")
    assert (row["start_date"], row["quantity"], row["days_supply"], row["units_per_day"]) == (
        "2024-01-02", "120", "30", "4",
    )  # fmt: skip
    assert (row["source"], row["quantity_unit"]) == ("order", "TAB")


def test_dispense_replaces_its_order_and_keeps_the_orders_prescriber(bulk: Ingested) -> None:
    ids = [row["rx_id"] for row in bulk.prescriptions]
    assert "MedicationRequest/rx2" not in ids
    row = bulk.rx("MedicationDispense/disp2")
    assert (row["start_date"], row["prescriber_id"], row["pharmacy_id"]) == ("2024-01-05", "dr-b", "pharm-1")
    [superseded] = bulk.problem("order_superseded_by_dispense")
    assert superseded["record"] == "rx2"
    assert "MedicationDispense/disp2" in superseded["message"]


def test_patch_units_per_day_is_patches_worn_not_applications_per_day(bulk: Ingested) -> None:
    row = bulk.rx("MedicationDispense/disp2")
    assert (row["units_per_day"], row["route"]) == ("1", "transdermal")


def test_authorised_repeats_are_one_row_and_reported_not_expanded(bulk: Ingested) -> None:
    assert sum(row["rx_id"] == "MedicationRequest/rx1" for row in bulk.prescriptions) == 1
    [refills] = bulk.problem("refills_not_expanded")
    assert refills["record"] == "rx1"
    assert "2 repeat" in refills["message"]


def test_post_dated_order_starts_when_valid_and_weeks_become_days(bulk: Ingested) -> None:
    row = bulk.rx("MedicationRequest/rx7")
    assert (row["start_date"], row["days_supply"], row["units_per_day"]) == ("2024-03-15", "14", "2")
    assert row["patient_id"] == "p2"  # urn:uuid:p2 with no Bundle is the Patient's id
    assert row["as_needed"] == ""


def test_negative_quantity_stays_in_the_row_for_the_exposure_engine(bulk: Ingested) -> None:
    assert bulk.rx("MedicationRequest/rx6")["quantity"] == "-30"
    assert not [p for p in bulk.problems if p["record"] == "rx6"]


@pytest.mark.parametrize(
    ("record", "kind", "source"),
    [
        ("rx3", "missing_subject", "MedicationRequest.ndjson:3"),
        ("rx4", "unresolved_reference", "MedicationRequest.ndjson:4"),
        ("rx5", "not_an_order", "MedicationRequest.ndjson:5"),
        ("rx8", "missing_date", "MedicationRequest.ndjson:8"),
    ],
)
def test_a_record_that_cannot_be_a_row_is_reported_with_file_line_and_reason(
    bulk: Ingested, record: str, kind: str, source: str
) -> None:
    assert f"MedicationRequest/{record}" not in [row["rx_id"] for row in bulk.prescriptions]
    [problem] = [p for p in bulk.problems if p["record"] == record]
    assert (problem["kind"], problem["source"]) == (kind, source)


def test_malformed_line_is_reported_and_the_rest_of_the_file_is_read(bulk: Ingested) -> None:
    [bad] = bulk.problem("malformed_json")
    assert bad["source"] == "Patient.ndjson:4"
    assert [p["patient_id"] for p in bulk.patients] == ["p1", "p2", "p3"]


def test_dispense_whose_order_is_absent_is_kept_and_reported(bulk: Ingested) -> None:
    assert bulk.rx("MedicationDispense/disp9")["prescriber_id"] == ""
    [missing] = bulk.problem("order_not_found")
    assert "not-exported" in missing["message"]


def test_patients_carry_sex_birth_death_and_organisation(bulk: Ingested) -> None:
    by_id = {p["patient_id"]: p for p in bulk.patients}
    assert by_id["p1"] == {"patient_id": "p1", "sex": "male", "birth_date": "1960-02-03",
                           "death_date": "", "organisation_id": "org-1"}  # fmt: skip
    assert by_id["p2"]["death_date"] == "2024-05-01"
    [no_date] = bulk.problem("death_without_date")
    assert no_date["record"] == "p3"


def test_harm_events_from_encounters_conditions_and_deaths(bulk: Ingested) -> None:
    events = sorted((e["patient_id"], e["date"], e["kind"], e["code"]) for e in bulk.events)
    assert events == [
        ("p1", "2024-03-01", "emergency_visit", "EMER"),
        ("p1", "2024-03-02", "opioid_overdose", "T40.2X1A"),
        ("p1", "2024-04-10", "mental_health_crisis", "82313006"),
        ("p2", "2024-05-01", "death", ""),
    ]
    # The overdose was recorded twice (Encounter reason and Condition): one event, and a line saying so.
    assert "1 event(s)" in bulk.problem("duplicate_event")[0]["message"]
    # A partial onset date ("2024") cannot date an event.
    assert bulk.problem("missing_date")[0]["record"] == "c4"


def test_types_taperwise_does_not_use_are_summarised_once(bulk: Ingested) -> None:
    [unused] = bulk.problem("resource_type_not_used")
    assert (unused["record"], unused["message"][:14]) == ("Practitioner", "2 Practitioner")


def test_progress_reports_every_record_read(ingest: Callable[..., Ingested]) -> None:
    calls: list[int] = []
    result = ingest(BULK, calls)
    assert sum(calls) == sum(result.sink.records_read.values()) == 23
