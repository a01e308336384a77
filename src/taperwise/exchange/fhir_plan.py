"""A taper plan as FHIR R4 resources: a CarePlan whose activities are MedicationRequest proposals, one per
product and step, with the plan's PDFs as DocumentReferences, in one Bundle (issue 14 item 4).

What a pharmacist needs of each step is in its MedicationRequest: the product exactly as the plan
dispenses it (the plan's own unit line, never another product or strength), the dose at each time of day
(`dosageInstruction`, one per administration), and the supply (`dispenseRequest`: the step's total
quantity, its dates as `validityPeriod`, its length as `expectedSupplyDuration`, and the instalments in
the note). A step that stops a drug has no MedicationRequest for it: the CarePlan says "stop" with the
date. Every warning of the plan is a CarePlan note with its source. The resources are `draft` proposals:
the EHR's prescriber signs them, or not.

Validated with `fhir.resources` (its R4B models: the library ships R5, R4B and STU3; CarePlan,
MedicationRequest, DocumentReference and Bundle are the same in R4 and R4B for every element written
here, docs/decisions/0022). A plan that does not validate is refused, never written.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from taperwise.errors import TaperwiseError
from taperwise.taper.jsonvalues import plain
from taperwise.taper.plan import Step, TaperPlan

UCUM = "http://unitsofmeasure.org"
STEP_SYSTEM = "https://taperwise.org/fhir/taper-step"
WHEN = {"morning": "MORN", "midday": "NOON", "afternoon": "AFT", "evening": "EVE", "night": "NIGHT",
        "bedtime": "HS"}  # fmt: skip


class FhirExportError(TaperwiseError):
    """The plan could not be written as valid FHIR; the message names the resource and the problem."""


@dataclass(frozen=True)
class PlanDocument:
    """A PDF of the plan (the patient calendar, the GP letter) to attach as a DocumentReference."""

    title: str
    content: bytes
    created: dt.datetime


PATIENT_REFERENCE = re.compile(r"^Patient/[A-Za-z0-9\-.]{1,64}$")


def check_patient_reference(reference: str) -> str:
    """`Patient/<FHIR id>`, or FhirExportError saying what is expected."""
    if not PATIENT_REFERENCE.match(reference):
        raise FhirExportError(f"--patient {reference[:80]!r}: give the patient's reference, Patient/<id>")
    return reference


def _mme(value: object) -> str:
    return "unknown" if value is None else plain(Decimal(str(value)))


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _number(value: Decimal | int) -> float | int:
    number = Decimal(value)
    return int(number) if number == number.to_integral() else float(number)


def _units(step: Step) -> dict[str, list[tuple[str, int]]]:
    """Per product the plan gives in this step: (time of day, units) for each administration."""
    by_product: dict[str, list[tuple[str, int]]] = {}
    for administration in step.administrations:
        for line in administration.units:
            by_product.setdefault(line.drug, []).append((administration.time, line.count))
    return by_product


def _dosage(time: str, count: int, product: str, unit: str) -> dict[str, Any]:
    repeat: dict[str, Any] = {"frequency": 1, "period": 1, "periodUnit": "d"}
    if time in WHEN:
        repeat["when"] = [WHEN[time]]
    return {
        "text": f"{count} × {product}, {time}",
        "timing": {"repeat": repeat},
        "doseAndRate": [{"doseQuantity": {"value": count, "unit": unit}}],
    }


def _medication_request(
    step: Step, product: str, doses: list[tuple[str, int]], patient: str
) -> dict[str, Any]:
    dispensed = [line for line in step.dispense if line.drug == product]
    unit = next((line.quantity_unit for line in dispensed if line.quantity_unit), "") or "unit"
    supply: dict[str, Any] = {"validityPeriod": {"start": step.start_date.isoformat()}}
    if step.end_date is not None:
        supply["validityPeriod"]["end"] = step.end_date.isoformat()
        days = (step.end_date - step.start_date).days + 1
        supply["expectedSupplyDuration"] = {"value": days, "unit": "days", "system": UCUM, "code": "d"}
    if dispensed:
        supply["quantity"] = {"value": sum(line.quantity for line in dispensed), "unit": unit}
    notes = []
    instalments = [i for i in step.instalments if any(line.drug == product for line in i.dispense)]
    if len(instalments) > 1:
        parts = [
            f"{i.start_date.isoformat()} to {i.end_date.isoformat()}: "
            + ", ".join(
                f"{line.quantity} {line.quantity_unit or 'units'}"
                for line in i.dispense
                if line.drug == product
            )
            for i in instalments
        ]
        notes.append({"text": "Dispensed in instalments: " + "; ".join(parts)})
    return {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "proposal",
        "groupIdentifier": {"system": STEP_SYSTEM, "value": f"step-{step.number}"},
        "medicationCodeableConcept": {"text": product},
        "subject": {"reference": patient},
        "dosageInstruction": [_dosage(time, count, product, unit) for time, count in doses],
        "dispenseRequest": supply,
        **({"note": notes} if notes else {}),
    }


def _stopped(plan: TaperPlan, step: Step) -> list[str]:
    """The regimen's drugs that this step stops (given before it, not in it)."""
    index = plan.steps.index(step)
    before = plan.steps[index - 1] if index > 0 else plan.baseline
    given = {a.drug for a in step.administrations}
    return sorted({a.drug for a in before.administrations} - given)


def _document(document: PlanDocument, patient: str) -> dict[str, Any]:
    digest = base64.b64encode(hashlib.sha1(document.content).digest()).decode()  # FHIR's Attachment.hash
    return {
        "resourceType": "DocumentReference",
        "status": "current",
        "type": {"text": document.title},
        "subject": {"reference": patient},
        "date": document.created.astimezone(dt.UTC).isoformat(),
        "description": document.title,
        "content": [{"attachment": {
            "contentType": "application/pdf", "data": base64.b64encode(document.content).decode(),
            "title": document.title, "size": len(document.content), "hash": digest,
            "creation": document.created.astimezone(dt.UTC).isoformat(),
        }}],
    }  # fmt: skip


def plan_bundle(
    plan: TaperPlan,
    patient: str,
    *,
    status: str = "draft",
    documents: Sequence[PlanDocument] = (),
    created: dt.datetime | None = None,
) -> dict[str, Any]:
    """The plan as a FHIR R4 `collection` Bundle: the CarePlan first, then its MedicationRequests and
    DocumentReferences. `patient` is the reference to write (`Patient/123`); `status` the CarePlan's
    (`draft`, or `active` for an agreed plan). Raises FhirExportError when the result does not validate."""
    check_patient_reference(patient)
    if status not in ("draft", "active"):
        raise FhirExportError(f"CarePlan status must be draft or active, not {status!r}")
    moment = (created or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    entries: list[dict[str, Any]] = []
    activities: list[dict[str, Any]] = []
    for step in plan.steps:
        for product, doses in _units(step).items():
            url = _urn()
            entries.append({"fullUrl": url, "resource": _medication_request(step, product, doses, patient)})
            activities.append({"reference": {"reference": url, "display": f"step {step.number}: {product}"}})
        for drug in _stopped(plan, step):
            activities.append({"detail": {
                "kind": "MedicationRequest", "status": "not-started",
                "description": f"step {step.number}: stop {drug}",
                "scheduledPeriod": {"start": step.start_date.isoformat()},
            }})  # fmt: skip
    documents_refs = []
    for document in documents:
        url = _urn()
        entries.append({"fullUrl": url, "resource": _document(document, patient)})
        documents_refs.append({"reference": url, "display": document.title})
    summary = plan.summary
    goal = summary.get("goal", {}).get("type", "")
    period: dict[str, str] = {
        "start": plan.steps[0].start_date.isoformat() if plan.steps else plan.request.start_date.isoformat()
    }
    if summary.get("goal_date"):
        period["end"] = str(summary["goal_date"])
    care_plan: dict[str, Any] = {
        "resourceType": "CarePlan",
        "status": status,
        "intent": "plan",
        "title": "Opioid taper plan",
        "description": (
            f"Goal: {goal or 'as agreed'}; from {_mme(summary.get('baseline_daily_mme'))} to "
            f"{_mme(summary.get('final_daily_mme'))} MME/day; "
            + "; ".join(f"{d['drug']}: {d['pace']}" for d in summary.get("drugs", []))
        ),
        "subject": {"reference": patient},
        "period": period,
        "created": moment.isoformat(),
        "activity": activities,
        "note": [{"text": f"{w.severity}: {w.message} (source: {w.source})"} for w in plan.warnings],
    }
    if documents_refs:
        care_plan["supportingInfo"] = documents_refs
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": moment.isoformat(),
        "entry": [{"fullUrl": _urn(), "resource": care_plan}, *entries],
    }
    validate(bundle)
    return bundle


def validate(bundle: dict[str, Any]) -> None:
    """Check the Bundle and every resource in it against the FHIR models (fhir.resources, R4B)."""
    from fhir.resources.R4B.bundle import Bundle
    from pydantic import ValidationError

    try:
        Bundle.model_validate(bundle)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        raise FhirExportError(
            f"the FHIR export does not validate at {where or 'Bundle'}: {first.get('msg')}"
        ) from exc
