"""A FHIR R4 bulk-data export: one NDJSON file per resource type, one resource per line.

Each fill is a MedicationRequest (the order: sig in ``dosageInstruction``, quantity and
``expectedSupplyDuration`` in ``dispenseRequest``) and a MedicationDispense (``quantity``, ``daysSupply``,
``whenHandedOver``, ``authorizingPrescription``) of the same day; both reference a Medication by
``Medication/id`` and the patient by ``Patient/id``. Emergency visits are Encounters of class ``EMER``,
overdoses and crises Conditions of those encounters; deaths are ``Patient.deceasedDateTime``.
Practices and pharmacies are Organizations, prescribers Practitioners, so every reference resolves —
except the deliberately unresolved Medication references, which point at ``Medication/med-missing-…``.
Product codes are not invented: a Medication carries its product text in ``code.text`` only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

import numpy as np

from taperwise.synth.events import KINDS, NO_DEATH
from taperwise.synth.generator import Batch, SynthContext
from taperwise.synth.malformed import all_kinds
from taperwise.synth.products import SynthProduct
from taperwise.synth.tables import (
    bad_dates,
    dates,
    kind_rows,
    patient_ids,
    rx_ids,
    variant_index,
)

RESOURCES = (
    "Patient",
    "Organization",
    "Practitioner",
    "Medication",
    "MedicationRequest",
    "MedicationDispense",
    "Encounter",
    "Condition",
)
UCUM = "http://unitsofmeasure.org"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
Json = dict[str, Any]


def _line(resource: Json) -> str:
    return json.dumps(resource, separators=(",", ":"), ensure_ascii=False) + "\n"


def _ref(kind: str, ident: str) -> Json:
    return {"reference": f"{kind}/{ident}"}


def _amount(value: int, unit: str) -> Json:
    if unit == "mL":
        return {"value": value, "unit": "mL", "system": UCUM, "code": "mL"}
    return {"value": value, "unit": unit}


def _days(value: int) -> Json:
    return {"value": value, "unit": "days", "system": UCUM, "code": "d"}


def dosage(item: SynthProduct, structured: bool) -> Json:
    """The sig: text always; timing and dose only when the fill's sig is structured."""
    sig = item.sig
    if not structured:
        return {"text": "use as directed", "route": {"text": item.route}}
    return {
        "text": sig.text,
        "timing": {
            "repeat": {"frequency": sig.frequency, "period": sig.period, "periodUnit": sig.period_unit}
        },
        "asNeededBoolean": item.row.as_needed,
        "route": {"text": item.route},
        "doseAndRate": [{"doseQuantity": _amount(sig.dose, item.dose_unit)}],
    }


class FhirWriter:
    def __init__(self, context: SynthContext, folder: Path) -> None:
        self.context = context
        folder.mkdir(parents=True, exist_ok=True)
        self.paths = {name: folder / f"{name}.ndjson" for name in RESOURCES}
        self._files: dict[str, IO[str]] = {
            name: path.open("w", encoding="utf-8", newline="\n") for name, path in self.paths.items()
        }
        self._kinds = all_kinds(context.config.parameters.malformed)
        self._write_static()

    def _emit(self, resource: Json) -> None:
        self._files[resource["resourceType"]].write(_line(resource))

    def _write_static(self) -> None:
        staff = self.context.staff
        for org, name in zip(staff.organisations, staff.organisation_names, strict=True):
            self._emit(
                {"resourceType": "Organization", "id": org, "name": name, "type": [{"text": "practice"}]}
            )
        for org, pharmacy in zip(staff.pharmacy_organisation, staff.pharmacies, strict=True):
            name = f"Synthetic pharmacy {pharmacy}"
            self._emit(
                {
                    "resourceType": "Organization",
                    "id": pharmacy,
                    "name": name,
                    "type": [{"text": "pharmacy"}],
                    "partOf": _ref("Organization", staff.organisations[org]),
                }
            )
        for prescriber in staff.prescribers:
            self._emit(
                {
                    "resourceType": "Practitioner",
                    "id": prescriber,
                    "name": [{"text": f"Synthetic prescriber {prescriber}"}],
                }
            )
        products = self.context.products
        for v, (product, _, text) in enumerate(products.variants):
            form = products.products[product].product.dose_form
            self._emit(
                {
                    "resourceType": "Medication",
                    "id": f"med-{v:04d}",
                    "code": {"text": text},
                    "form": {"text": form},
                }
            )
        for i, text in enumerate(self.context.config.parameters.malformed.unknown_drugs):
            self._emit({"resourceType": "Medication", "id": f"med-x{i + 1}", "code": {"text": text}})

    def write(self, batch: Batch) -> None:
        self._patients(batch)
        self._fills(batch)
        self._events(batch)

    def _patients(self, batch: Batch) -> None:
        people, context = batch.people, self.context
        ids = patient_ids(context, people.index).to_pylist()
        births = dates(context, people.birth_day).to_pylist()
        deaths = dates(context, np.minimum(batch.death_day, context.window_days)).to_pylist()
        for i, ident in enumerate(ids):
            patient: Json = {
                "resourceType": "Patient",
                "id": ident,
                "identifier": [{"system": "urn:taperwise:synthetic-patient", "value": ident}],
                "gender": "female" if people.female[i] else "male",
                "birthDate": births[i],
            }
            if batch.death_day[i] < NO_DEATH:
                patient["deceasedDateTime"] = deaths[i]
            patient["managingOrganization"] = _ref(
                "Organization", context.staff.organisations[people.organisation[i]]
            )
            self._emit(patient)

    def _fills(self, batch: Batch) -> None:
        context, fills = self.context, batch.fills
        rx = rx_ids(context, batch).to_pylist()
        patients = patient_ids(context, batch.people.index).to_pylist()
        when = dates(context, fills.start_day).to_pylist()
        medication = [f"med-{v:04d}" for v in variant_index(context, batch)]
        for n, row in enumerate(kind_rows(context, batch, "unknown_drug")):
            medication[row] = f"med-x{n % len(context.config.parameters.malformed.unknown_drugs) + 1}"
        for n, row in enumerate(kind_rows(context, batch, "unresolved_medication")):
            medication[row] = f"med-missing-{batch.chunk}-{n + 1}"
        bad = kind_rows(context, batch, "bad_date")
        for row, text in zip(bad, bad_dates(context, batch, bad), strict=True):
            when[row] = text
        dispense_id = [f"md-{r}" for r in rx]
        for row in kind_rows(context, batch, "duplicate_rx_id"):
            dispense_id[row] = dispense_id[row - 1]
        kinds = [self._kinds[k] if k >= 0 else "" for k in batch.malformed]
        for i in range(len(fills)):
            self._fill(
                batch, i, rx[i], patients[fills.person[i]], when[i], medication[i], dispense_id[i], kinds[i]
            )

    def _fill(
        self,
        batch: Batch,
        i: int,
        rx: str,
        patient: str,
        when: str,
        medication: str,
        dispense_id: str,
        kind: str,
    ) -> None:
        fills, staff = batch.fills, self.context.staff
        item = self.context.products.products[fills.product[i]]
        quantity = int(fills.quantity[i]) * (-1 if kind == "negative_quantity" else 1)
        missing_days = kind == "missing_days_supply"
        sig = dosage(item, bool(batch.structured[i]) and not missing_days)
        supply_request: Json = {"quantity": _amount(quantity, item.dose_unit), "numberOfRepeatsAllowed": 0}
        if not missing_days:
            supply_request["expectedSupplyDuration"] = _days(int(fills.days_supply[i]))
        self._emit(
            {
                "resourceType": "MedicationRequest",
                "id": f"mr-{rx}",
                "status": "completed",
                "intent": "order",
                "medicationReference": _ref("Medication", medication),
                "subject": _ref("Patient", patient),
                "authoredOn": when,
                "requester": _ref("Practitioner", staff.prescribers[fills.prescriber[i]]),
                "dosageInstruction": [sig],
                "dispenseRequest": supply_request,
            }
        )
        dispense: Json = {
            "resourceType": "MedicationDispense",
            "id": dispense_id,
            "status": "completed",
            "medicationReference": _ref("Medication", medication),
            "subject": _ref("Patient", patient),
            "performer": [{"actor": _ref("Organization", staff.pharmacies[fills.pharmacy[i]])}],
            "authorizingPrescription": [_ref("MedicationRequest", f"mr-{rx}")],
            "quantity": _amount(quantity, item.dose_unit),
        }
        if not missing_days:
            dispense["daysSupply"] = _days(int(fills.days_supply[i]))
        dispense["whenHandedOver"] = when
        dispense["dosageInstruction"] = [sig]
        text = _line(dispense)
        if kind == "malformed_json":
            text = text[: len(text) // 2] + "\n"  # a line cut off mid-record, as a failed export leaves it
        self._files["MedicationDispense"].write(text)

    def _events(self, batch: Batch) -> None:
        events, context = batch.events, self.context
        patients = patient_ids(context, batch.people.index).to_pylist()
        days = dates(context, events.day).to_pylist()
        prefix = f"{batch.chunk}-"
        diagnoses: dict[int, list[int]] = {}
        for i in np.flatnonzero((events.kind != 0) & (events.encounter >= 0)):
            diagnoses.setdefault(int(events.encounter[i]), []).append(int(i))
        for i in np.flatnonzero(events.kind == 0):
            encounter = int(events.encounter[i])
            resource: Json = {
                "resourceType": "Encounter",
                "id": f"enc-{prefix}{encounter}",
                "status": "finished",
                "class": {"system": ACT_CODE, "code": "EMER", "display": "emergency"},
                "subject": _ref("Patient", patients[events.person[i]]),
                "period": {"start": days[i], "end": days[i]},
            }
            found = diagnoses.get(encounter, [])
            if found:
                resource["diagnosis"] = [{"condition": _ref("Condition", f"cond-{prefix}{d}")} for d in found]
            self._emit(resource)
            for d in found:
                self._emit(self._condition(batch, d, patients, days[d], f"enc-{prefix}{encounter}"))

    def _condition(self, batch: Batch, i: int, patients: list[str], day: str, encounter: str) -> Json:
        code = self.context.config.events[batch.events.code[i]]
        return {
            "resourceType": "Condition",
            "id": f"cond-{batch.chunk}-{i}",
            "clinicalStatus": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "resolved"}
                ]
            },
            "verificationStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                        "code": "confirmed",
                    }
                ]
            },
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                            "code": "encounter-diagnosis",
                            "display": "Encounter Diagnosis",
                        }
                    ]
                }
            ],
            "code": {
                "coding": [{"system": code.code_system, "code": code.code, "display": code.display}],
                "text": f"{KINDS[batch.events.kind[i]]}: {code.display}",
            },
            "subject": _ref("Patient", patients[batch.events.person[i]]),
            "encounter": {"reference": f"Encounter/{encounter}"},
            "onsetDateTime": day,
            "recordedDate": day,
        }

    def close(self) -> list[Path]:
        for handle in self._files.values():
            handle.close()
        return list(self.paths.values())
