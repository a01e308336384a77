"""A taper plan as FHIR R4 (issue 14 item 4): a CarePlan with a MedicationRequest proposal per product and
step, validated with fhir.resources, the product exactly as the plan dispenses it, every warning carried."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.careplan import CarePlan
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.medicationrequest import MedicationRequest
from typer.testing import CliRunner

from taperwise.cli import app
from taperwise.exchange.fhir_plan import FhirExportError, PlanDocument, plan_bundle, validate
from taperwise.taper import plan_taper
from tests.taper.builders import MONTHLY_10, fentanyl, morphine_er, request

MOMENT = dt.datetime(2025, 1, 2, 9, 30, tzinfo=dt.UTC)
MODELS = {
    "CarePlan": CarePlan,
    "MedicationRequest": MedicationRequest,
    "DocumentReference": DocumentReference,
}


def _resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_an_oral_plan_is_a_careplan_with_one_proposal_per_product_and_step_and_validates() -> None:
    plan = plan_taper(request(morphine_er(90, 3)))
    bundle = plan_bundle(plan, "Patient/p-1", created=MOMENT)
    Bundle.model_validate(bundle)
    for entry in bundle["entry"]:  # each resource on its own, too
        MODELS[entry["resource"]["resourceType"]].model_validate(entry["resource"])
    [care_plan] = _resources(bundle, "CarePlan")
    requests = _resources(bundle, "MedicationRequest")
    expected = {
        (step.number, unit.drug) for step in plan.steps for a in step.administrations for unit in a.units
    }
    assert len(requests) == len(expected)
    assert bundle["entry"][0]["resource"] is care_plan
    assert care_plan["intent"] == "plan"
    assert care_plan["status"] == "draft"
    assert {r["status"] for r in requests} == {"draft"}
    assert {r["intent"] for r in requests} == {"proposal"}
    references = {a["reference"]["reference"] for a in care_plan["activity"] if "reference" in a}
    assert references == {
        e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "MedicationRequest"
    }
    # the last step stops the drug: a CarePlan activity with its date, no prescription
    stop = care_plan["activity"][-1]["detail"]
    assert stop["description"].endswith(f"stop {plan.request.regimen[0].drug}")
    assert stop["scheduledPeriod"]["start"] == plan.steps[-1].start_date.isoformat()


def test_each_proposal_names_the_dispensed_product_its_doses_and_its_supply() -> None:
    plan = plan_taper(request(morphine_er(90, 3)))
    bundle = plan_bundle(plan, "Patient/p-1", created=MOMENT)
    first = plan.steps[0]
    products = {line.drug for line in first.dispense}
    step_one = [
        r for r in _resources(bundle, "MedicationRequest") if r["groupIdentifier"]["value"] == "step-1"
    ]
    assert {r["medicationCodeableConcept"]["text"] for r in step_one} == products
    for resource in step_one:
        product = resource["medicationCodeableConcept"]["text"]
        given = sum(u.count for a in first.administrations for u in a.units if u.drug == product)
        assert (
            sum(d["doseAndRate"][0]["doseQuantity"]["value"] for d in resource["dosageInstruction"]) == given
        )
        supply = resource["dispenseRequest"]
        assert supply["quantity"]["value"] == sum(
            line.quantity for line in first.dispense if line.drug == product
        )
        assert supply["validityPeriod"] == {
            "start": first.start_date.isoformat(),
            "end": first.end_date.isoformat(),
        }
        assert supply["expectedSupplyDuration"]["value"] == first.days
        assert {d["timing"]["repeat"]["when"][0] for d in resource["dosageInstruction"]} <= {
            "MORN",
            "NOON",
            "EVE",
            "HS",
        }


def test_a_patch_plan_keeps_the_patches_and_every_warning_is_a_note_with_its_source() -> None:
    plan = plan_taper(request(fentanyl(75), pace=MONTHLY_10))
    bundle = plan_bundle(plan, "Patient/p-2", created=MOMENT)
    Bundle.model_validate(bundle)
    texts = {r["medicationCodeableConcept"]["text"] for r in _resources(bundle, "MedicationRequest")}
    assert texts
    assert all("patch" in text.lower() or "transdermal" in text.lower() for text in texts)
    [care_plan] = _resources(bundle, "CarePlan")
    notes = [note["text"] for note in care_plan["note"]]
    assert len(notes) == len(plan.warnings)
    for warning in plan.warnings:
        assert any(warning.message in note and warning.source in note for note in notes)


def test_pdfs_are_document_references_the_careplan_points_to() -> None:
    plan = plan_taper(request(morphine_er(30, 2)))
    pdf = b"%PDF-1.7 a calendar"
    bundle = plan_bundle(
        plan, "Patient/p-3", status="active", documents=[PlanDocument("Patient calendar", pdf, MOMENT)]
    )
    [document] = _resources(bundle, "DocumentReference")
    attachment = document["content"][0]["attachment"]
    assert attachment["contentType"] == "application/pdf"
    assert attachment["size"] == len(pdf)
    [care_plan] = _resources(bundle, "CarePlan")
    assert care_plan["status"] == "active"
    assert care_plan["supportingInfo"][0]["display"] == "Patient calendar"


def test_what_does_not_validate_is_refused_naming_where() -> None:
    plan = plan_taper(request(morphine_er(30, 2)))
    bundle = plan_bundle(plan, "Patient/p-4", created=MOMENT)
    del bundle["entry"][1]["resource"]["medicationCodeableConcept"]
    with pytest.raises(FhirExportError, match="does not validate"):
        validate(bundle)
    with pytest.raises(FhirExportError, match="Patient/<id>"):
        plan_bundle(plan, "p-4")
    with pytest.raises(FhirExportError, match="draft or active"):
        plan_bundle(plan, "Patient/p-4", status="completed")


def test_the_command_writes_a_validated_bundle_and_refuses_bad_input(tmp_path: Path) -> None:
    runner = CliRunner()
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(json.dumps(plan_taper(request(morphine_er(60, 2))).to_dict()), encoding="utf-8")
    pdf = tmp_path / "letter.pdf"
    pdf.write_bytes(b"%PDF-1.4 a letter")
    out = tmp_path / "plan.fhir.json"
    args = ["fhir", "export-plan", str(plan_path), "-o", str(out), "--patient", "Patient/123"]
    result = runner.invoke(app, [*args, "--pdf", f"GP letter={pdf}"])
    assert result.exit_code == 0, result.output
    assert "validated" in result.output
    Bundle.model_validate(json.loads(out.read_text(encoding="utf-8")))
    for extra, problem in [
        (["--patient", "123"], "Patient/<id>"),
        (["--pdf", f"x={plan_path}"], "not a PDF file"),
        (["--pdf", "no-equals"], "give TITLE=PATH"),
        (["--status", "cancelled"], "draft or active"),
    ]:
        refused = runner.invoke(app, [*args, *extra])
        assert refused.exit_code == 2, extra
        assert problem in refused.output, (extra, refused.output)
        assert "Traceback" not in refused.output
    not_a_plan = tmp_path / "other.json"
    not_a_plan.write_text('{"hello": 1}', encoding="utf-8")
    refused = runner.invoke(
        app, ["fhir", "export-plan", str(not_a_plan), "-o", str(out), "--patient", "Patient/1"]
    )
    assert refused.exit_code == 2
    assert "not a plan taperwise wrote" in refused.output
