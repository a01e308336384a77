"""The FHIR export is R4 bulk data: JSON lines, resolvable references, the fields readers rely on."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from taperwise.synth.run import SynthSummary

Made = tuple[Path, SynthSummary]
REFERENCE = re.compile(
    r"^(Patient|Medication|MedicationRequest|Practitioner|Organization|Encounter|Condition)/"
    r"[A-Za-z0-9\-.]{1,64}$"
)
ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")  # FHIR R4 id datatype


def _read(folder: Path, name: str) -> tuple[list[dict[str, Any]], int]:
    resources, broken = [], 0
    for line in (folder / f"{name}.ndjson").read_text(encoding="utf-8").splitlines():
        try:
            resources.append(json.loads(line))
        except json.JSONDecodeError:
            broken += 1
    return resources, broken


@pytest.fixture(scope="module")
def export(fhir_folder: Made) -> dict[str, list[dict[str, Any]]]:
    folder, _ = fhir_folder
    names = [path.stem for path in folder.glob("*.ndjson")]
    return {name: _read(folder, name)[0] for name in names}


def test_every_line_is_json_except_the_deliberately_cut_ones(fhir_folder: Made) -> None:
    folder, summary = fhir_folder
    broken = Counter({path.stem: _read(folder, path.stem)[1] for path in folder.glob("*.ndjson")})
    assert broken["MedicationDispense"] == summary.malformed["malformed_json"] > 0
    assert sum(broken.values()) == broken["MedicationDispense"]
    for name in (
        "Patient",
        "Medication",
        "MedicationRequest",
        "MedicationDispense",
        "Encounter",
        "Condition",
    ):
        assert (folder / f"{name}.ndjson").stat().st_size > 0, name


def test_each_file_holds_its_resource_type_with_valid_ids(export: dict[str, list[dict[str, Any]]]) -> None:
    for name, resources in export.items():
        assert {r["resourceType"] for r in resources} == {name}
        assert all(ID.match(r["id"]) for r in resources), name


def test_references_resolve_except_the_deliberately_unresolved_medications(
    export: dict[str, list[dict[str, Any]]], fhir_folder: Made
) -> None:
    _, summary = fhir_folder
    known = {f"{r['resourceType']}/{r['id']}" for resources in export.values() for r in resources}
    unresolved: Counter[str] = Counter()
    for kind in ("MedicationRequest", "MedicationDispense"):
        for resource in export[kind]:
            for ref in (resource["subject"]["reference"], resource["medicationReference"]["reference"]):
                assert REFERENCE.match(ref), ref
                if ref not in known:
                    unresolved[ref.split("/")[0]] += 1
    assert unresolved["Patient"] == 0
    # Each unresolved fill has a request and a dispense; a cut dispense line may hide one of them.
    assert summary.malformed["unresolved_medication"] <= unresolved["Medication"]
    assert unresolved["Medication"] <= 2 * summary.malformed["unresolved_medication"]


def test_requests_carry_structured_sig_and_supply(export: dict[str, list[dict[str, Any]]]) -> None:
    structured = 0
    for request in export["MedicationRequest"]:
        assert request["intent"] == "order"
        assert request["status"] == "completed"
        dosage = request["dosageInstruction"][0]
        if "timing" in dosage:
            structured += 1
            repeat = dosage["timing"]["repeat"]
            assert {"frequency", "period", "periodUnit"} <= repeat.keys()
            assert repeat["periodUnit"] in {"h", "d"}
            assert dosage["doseAndRate"][0]["doseQuantity"]["value"] > 0
    assert structured > 0.6 * len(export["MedicationRequest"])
    with_duration = [
        r for r in export["MedicationRequest"] if "expectedSupplyDuration" in r["dispenseRequest"]
    ]
    assert all(r["dispenseRequest"]["expectedSupplyDuration"]["code"] == "d" for r in with_duration)


def test_dispenses_carry_supply_handover_and_prescription(
    export: dict[str, list[dict[str, Any]]], fhir_folder: Made
) -> None:
    _, summary = fhir_folder
    dispenses = export["MedicationDispense"]
    missing = [d for d in dispenses if "daysSupply" not in d]
    assert 0 < len(missing) <= summary.malformed["missing_days_supply"]
    for dispense in dispenses:
        assert dispense["authorizingPrescription"][0]["reference"].startswith("MedicationRequest/mr-")
        assert {"quantity", "whenHandedOver", "subject", "performer"} <= dispense.keys()
    negative = [d for d in dispenses if d["quantity"]["value"] < 0]
    assert 0 < len(negative) <= summary.malformed["negative_quantity"]
    ids = Counter(d["id"] for d in dispenses)
    assert 0 < sum(1 for count in ids.values() if count > 1) <= summary.malformed["duplicate_rx_id"]


def test_patients_and_harm_events(export: dict[str, list[dict[str, Any]]]) -> None:
    patients = export["Patient"]
    assert {p["gender"] for p in patients} == {"female", "male"}
    assert any("deceasedDateTime" in p for p in patients)
    assert all(p["managingOrganization"]["reference"].startswith("Organization/ORG-") for p in patients)
    assert {e["class"]["code"] for e in export["Encounter"]} == {"EMER"}
    systems = {c["code"]["coding"][0]["system"] for c in export["Condition"]}
    assert systems <= {"http://hl7.org/fhir/sid/icd-10-cm", "http://hl7.org/fhir/sid/icd-10"}
    assert any(c["code"]["coding"][0]["code"].startswith("T40.") for c in export["Condition"])
