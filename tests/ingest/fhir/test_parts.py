"""Dosage, references, bundles and the harm value set, one rule at a time."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from taperwise.errors import UnusableInputError
from taperwise.ingest.common import IngestSink
from taperwise.ingest.fhir import read_fhir
from taperwise.ingest.fhir.dosage import read_dosages
from taperwise.ingest.fhir.references import Resolver, Target
from taperwise.knowledge.events import load_harm_codes
from tests.ingest.fhir.conftest import Ingested

TAB = {"value": 1, "unit": "TAB"}


def _dose(quantity: dict[str, object] | None = None, **repeat: object) -> dict[str, object]:
    return {"timing": {"repeat": repeat}, "doseAndRate": [{"doseQuantity": quantity or TAB}]}


@pytest.mark.parametrize(
    ("dosage", "expected"),
    [
        (_dose(frequency=2, period=1, periodUnit="d"), 2.0),
        (_dose(frequency=1, period=8, periodUnit="h"), 3.0),
        (_dose({"value": 2, "unit": "tablet"}, frequency=1, frequencyMax=3, period=1, periodUnit="d"), 6.0),
        (_dose(frequency=1, period=1, periodUnit="wk"), 1 / 7),
        ({"timing": {"code": {"coding": [{"code": "BID"}]}}, "doseAndRate": [{"doseQuantity": TAB}]}, 2.0),
        ({"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
          "doseAndRate": [{"doseRange": {"low": TAB, "high": {"value": 3, "unit": "TAB"}}}]}, 3.0),
    ],
)  # fmt: skip
def test_units_per_day_from_timing_and_dose(dosage: dict[str, object], expected: float) -> None:
    assert read_dosages([dosage]).units_per_day == pytest.approx(expected)


def test_dose_in_milligrams_is_left_empty_with_the_reason() -> None:
    reading = read_dosages([_dose({"value": 10, "unit": "mg"}, frequency=2, period=1, periodUnit="d")])
    assert reading.units_per_day is None
    assert "'mg'" in str(reading.note)


def test_concurrent_dosages_add_and_sequential_phases_use_the_first() -> None:
    morning = _dose(frequency=1, period=1, periodUnit="d") | {"sequence": 1}
    night = _dose({"value": 2, "unit": "TAB"}, frequency=1, period=1, periodUnit="d") | {"sequence": 1}
    later = _dose(frequency=1, period=1, periodUnit="d") | {"sequence": 2}
    assert read_dosages([morning, night]).units_per_day == 3.0
    reading = read_dosages([morning, night, later])
    assert reading.units_per_day == 3.0
    assert "2 sequential phases" in str(reading.note)


def test_as_needed_from_boolean_or_concept() -> None:
    assert read_dosages([{"asNeededBoolean": True}]).as_needed
    assert read_dosages([{"asNeededCodeableConcept": {"text": "pain"}}]).as_needed
    assert not read_dosages([{"asNeededBoolean": False}]).as_needed


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ({"reference": "Medication/m1"}, Target("Medication", "m1")),
        ({"reference": "https://ehr.example/fhir/Medication/m1/_history/3"}, Target("Medication", "m1")),
        ({"reference": "urn:uuid:abc"}, Target(None, "abc")),
        (
            {"reference": "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|999"},
            Target("Practitioner", "999"),
        ),
        ({"identifier": {"value": "X9"}}, Target(None, "X9")),
        ({"display": "a name only"}, None),
    ],
)
def test_reference_forms_reduce_to_one_id(reference: dict[str, object], expected: Target | None) -> None:
    assert Resolver().target(reference) == expected


def _bundle(*resources: tuple[str, dict[str, object]]) -> dict[str, object]:
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"fullUrl": url, "resource": r} for url, r in resources]}  # fmt: skip


def test_bundle_resolves_urn_uuid_to_the_resource_ids(
    tmp_path: Path, ingest: Callable[..., Ingested]
) -> None:
    medication = {"resourceType": "Medication", "id": "med-a", "code": {"text": "Morphine 10 MG Oral Tablet"}}
    order = {
        "resourceType": "MedicationRequest", "id": "rq", "intent": "order", "status": "active",
        "subject": {"reference": "urn:uuid:1111"}, "authoredOn": "2024-06-01",
        "medicationReference": {"reference": "urn:uuid:2222"},
    }  # fmt: skip
    bundle = _bundle(
        ("urn:uuid:1111", {"resourceType": "Patient", "id": "pat-a"}),
        ("urn:uuid:2222", medication),
        ("urn:uuid:3333", order),
    )
    path = tmp_path / "one.json.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        json.dump(bundle, handle)
    row = ingest(path).rx("MedicationRequest/rq")
    assert (row["patient_id"], row["drug"]) == ("pat-a", "Morphine 10 MG Oral Tablet")


def test_empty_bundle_entry_is_reported(tmp_path: Path, ingest: Callable[..., Ingested]) -> None:
    (tmp_path / "b.json").write_text(
        json.dumps({"resourceType": "Bundle", "entry": [{"fullUrl": "urn:uuid:9"}]})
    )
    [problem] = ingest(tmp_path / "b.json").problems
    assert (problem["source"], problem["kind"]) == ("b.json#entry[0]", "not_a_resource")


def test_a_file_of_another_type_in_an_ndjson_is_flagged(
    write_ndjson: Callable[..., Path], ingest: Callable[..., Ingested]
) -> None:
    order = {
        "resourceType": "MedicationRequest", "id": "r", "intent": "order",
        "subject": {"reference": "Patient/p"}, "authoredOn": "2024-01-01",
        "medicationCodeableConcept": {"text": "Tramadol 50 MG Oral Tablet"},
    }  # fmt: skip
    folder = write_ndjson("orders.ndjson", [{"resourceType": "Patient", "id": "p"}, order])
    result = ingest(folder)
    assert result.rx("MedicationRequest/r")["drug"] == "Tramadol 50 MG Oral Tablet"
    assert result.problem("mixed_resource_types")[0]["source"] == "orders.ndjson"


def test_missing_source_is_unusable(tmp_path: Path) -> None:
    with IngestSink(tmp_path / "rx.csv") as sink, pytest.raises(UnusableInputError, match="no such file"):
        read_fhir(tmp_path / "absent", sink)


def test_harm_codes_match_with_or_without_dots_and_every_row_has_a_source() -> None:
    codes = load_harm_codes()
    assert codes[("ICD10CM", "T402X1A")].kind == "opioid_overdose"
    assert codes[("ICD10", "T404")].kind == "opioid_overdose"
    assert codes[("ActCode", "EMER")].kind == "emergency_visit"
    assert all(code.source_id for code in codes.values())
    assert {code.kind for code in codes.values()} == {
        "opioid_overdose",
        "emergency_visit",
        "mental_health_crisis",
    }
