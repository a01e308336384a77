"""MedicationRequest, MedicationDispense, MedicationStatement, MedicationAdministration → canonical rows.

One fill is one row. A dispense is evidence that a fill happened; an order only that one was allowed. So
a MedicationDispense that names its order in ``authorizingPrescription`` replaces that order's row (the
order is reported as ``order_superseded_by_dispense``, naming the dispense), and an order's authorised
repeats are not turned into assumed fills: the order is one row and ``refills_not_expanded`` says how
many repeats it allowed (docs/decisions/0004-fhir-ingest.md).

Values are carried as written (a negative quantity stays in the row): the exposure engine reports value
problems row by row, so only structural problems — no patient, no product, no date — are reported here,
besides the implausible values every reader reports (`taperwise.ingest.plausibility`: a start in 1850, a
quantity of 1e32), against the record's ``file:line`` and id.
The one exception is the supply duration, which is chosen among several fields of the record
(`taperwise.ingest.fhir.supply`): each row names how its duration was obtained in ``supply_days_source``,
and a duration that cannot be used or that the record contradicts is reported here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from taperwise.ingest.common import Row
from taperwise.ingest.fhir.context import IngestRun, OrderFacts, Place
from taperwise.ingest.fhir.dates import day_of, period_start
from taperwise.ingest.fhir.dosage import PRODUCT_UNITS, DoseReading, read_dosages
from taperwise.ingest.fhir.medication import Product, product_of
from taperwise.ingest.fhir.references import Resource
from taperwise.ingest.fhir.supply import (
    ADMINISTRATION,
    EFFECTIVE_PERIOD,
    Days,
    decide,
    read_bounds,
    read_duration,
    read_period,
)

_EXACT = 2.0**53  # every whole number below this is a double exactly
NOT_ORDERS = frozenset({"proposal", "plan", "option"})
INPATIENT_WORDS = ("inpatient",)
COMMUNITY_WORDS = ("outpatient", "community", "discharge")


def _text(value: object) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and value.is_integer() and abs(value) < _EXACT:
        return str(int(value))
    return str(value)  # 1e+32 stays 1e+32, not the 33 digits of the double nearest to it


def _quantity(quantity: object) -> tuple[str | None, str | None]:
    if not isinstance(quantity, Mapping):
        return None, None
    unit = quantity.get("unit") or quantity.get("code")
    return _text(quantity.get("value")), unit if isinstance(unit, str) else None


def _setting(categories: object) -> str | None:
    items = categories if isinstance(categories, list) else [categories]
    words = " ".join(
        str(c.get("code") or c.get("display") or "")
        for item in items
        if isinstance(item, Mapping)
        for c in [*(item.get("coding") or []), {"code": item.get("text")}]
        if isinstance(c, Mapping)
    ).lower()
    if any(w in words for w in INPATIENT_WORDS):
        return "inpatient"
    return "community" if any(w in words for w in COMMUNITY_WORDS) else None


def _row(
    resource: Resource, patient: str, product: Product, source: str, dose: DoseReading
) -> dict[str, Any]:
    return {
        "patient_id": patient,
        "rx_id": f"{resource['resourceType']}/{resource.get('id')}",
        "drug": product.drug,
        "rxcui": product.rxcui,
        "ndc": product.ndc,
        "units_per_day": _text(dose.units_per_day),
        "as_needed": "true" if dose.as_needed else None,
        "route": dose.route or product.route,
        "status": resource.get("status") if isinstance(resource.get("status"), str) else None,
        "source": source,
    }


def _start(
    run: IngestRun, place: Place, resource: Resource, patient_field: str = "subject"
) -> tuple[str | None, Product | None, str]:
    """The patient and product of a record, reporting what is missing. Returns (patient, product, id)."""
    record = str(resource.get("id") or "")
    kind = resource["resourceType"]
    patient = place.resolver.id_of(resource.get(patient_field))
    if not record:
        run.report(place, "", "missing_id", f"{kind} has no id, so it cannot be named in a row")
        return None, None, record
    if not patient:
        run.report(place, record, "missing_subject", f"{kind} names no patient in {patient_field}")
        return None, None, record
    product, why = product_of(resource, place.medications, place.resolver)
    if why is not None:
        kind_of = "unresolved_reference" if "does not resolve" in why else "missing_medication"
        run.report(place, record, kind_of, f"{kind}: {why}")
    return patient, product, record


def _emit(
    run: IngestRun,
    place: Place,
    record: str,
    row: dict[str, Any],
    dose: DoseReading,
    notes: Sequence[tuple[str, str]] = (),
) -> None:
    if not row.get("start_date"):
        run.report(place, record, "missing_date", f"{row['rx_id']} has no date to start its supply")
        return
    if dose.note:
        run.report(
            place, record, "dose_not_read", f"{row['rx_id']}: units_per_day left empty or chosen: {dose.note}"
        )
    for kind, message in notes:
        run.report(place, record, kind, message)
    run.sink.prescription(row, place.source, record)


def _with_supply(
    row: dict[str, Any],
    stated_name: str,
    stated: Days,
    bounds: tuple[Days, list[str]],
    is_patch: bool,
    assume_days: int | None = None,
) -> tuple[dict[str, Any], Sequence[tuple[str, str]]]:
    """The row with its ``days_supply`` and ``supply_days_source`` (supply.py's precedence), and problems."""
    supply = decide(
        row["rx_id"], stated_name, stated, bounds, quantity=row.get("quantity"),
        quantity_unit=row.get("quantity_unit"), units_per_day=row.get("units_per_day"),
        as_needed=row.get("as_needed") == "true", is_patch=is_patch, assume_days=assume_days,
    )  # fmt: skip
    return row | {"days_supply": supply.days_supply, "supply_days_source": supply.source}, supply.problems


def read_request(run: IngestRun, place: Place, resource: Resource) -> None:
    if resource.get("intent") in NOT_ORDERS:
        run.report(
            place,
            str(resource.get("id") or ""),
            "not_an_order",
            f"MedicationRequest intent {resource.get('intent')!r} is not a prescription; no row",
        )
        return
    patient, product, record = _start(run, place, resource)
    if patient is None or product is None:
        return
    dose = read_dosages(resource.get("dosageInstruction"), is_patch=product.is_patch)
    supply: Mapping[str, Any] = resource.get("dispenseRequest") or {}
    authored, valid_from = (
        day_of(resource.get("authoredOn")),
        day_of(period_start(supply.get("validityPeriod"))),
    )
    # A post-dated prescription cannot be filled before it becomes valid.
    start = max(d for d in (authored, valid_from) if d) if (authored or valid_from) else None
    bounds = read_bounds(resource.get("dosageInstruction"), start)
    facts = OrderFacts(
        place.resolver.id_of(resource.get("requester")),
        _text(dose.units_per_day),
        "true" if dose.as_needed else None,
        dose.route or product.route,
        bounds[0].days,
    )
    dispenses = run.dispensed.get(record)
    if dispenses:
        run.superseded[record] = facts
        run.report(
            place,
            record,
            "order_superseded_by_dispense",
            f"MedicationRequest/{record} is filled by "
            + ", ".join(f"MedicationDispense/{d}" for d in dispenses)
            + "; "
            "the dispense rows count instead of the order",
        )
        return
    quantity, unit = _quantity(supply.get("quantity"))
    row = _row(resource, patient, product, "order", dose) | {
        "start_date": start,
        "quantity": quantity,
        "quantity_unit": unit,
        "prescriber_id": facts.prescriber_id,
        "setting": _setting(resource.get("category")),
    }
    stated = read_duration(supply.get("expectedSupplyDuration"), "expectedSupplyDuration")
    row, notes = _with_supply(
        row, "expectedSupplyDuration", stated, bounds, product.is_patch, run.assume_order_days
    )
    validity = read_period(supply.get("validityPeriod"), "validityPeriod", None)
    if row["supply_days_source"] is None and validity.days is not None:
        notes = [*notes, (
            "validity_period_not_used",
            f"{row['rx_id']}: dispenseRequest.validityPeriod ({validity.days} days) is when the order may be "
            "dispensed, not how long the supply lasts; it is not used as the duration",
        )]  # fmt: skip
    _emit(run, place, record, row, dose, notes)
    repeats = supply.get("numberOfRepeatsAllowed")
    if row.get("start_date") and isinstance(repeats, int) and repeats > 0:
        run.report(
            place,
            record,
            "refills_not_expanded",
            f"MedicationRequest/{record} allows {repeats} repeat(s); with no dispense records only "
            "the first fill is counted (an authorisation is not evidence of a fill)",
        )


def authorising_orders(resource: Resource, place: Place) -> list[str]:
    """Ids of the MedicationRequests a MedicationDispense names as its authority."""
    orders = []
    for reference in resource.get("authorizingPrescription") or []:
        target = place.resolver.target(reference)
        if (
            target is not None
            and not target.id.startswith("#")
            and target.resource_type in (None, "MedicationRequest")
        ):
            orders.append(target.id)
    return orders


def read_dispense(run: IngestRun, place: Place, resource: Resource) -> None:
    patient, product, record = _start(run, place, resource)
    if patient is None or product is None:
        return
    order = next(
        (run.superseded[o] for o in authorising_orders(resource, place) if o in run.superseded), None
    )
    dose = read_dosages(resource.get("dosageInstruction"), is_patch=product.is_patch)
    quantity, unit = _quantity(resource.get("quantity"))
    performers = [p.get("actor") for p in resource.get("performer") or [] if isinstance(p, Mapping)]
    organisations = [
        a for a in performers if isinstance(a, Mapping) and "Organization" in str(a.get("reference"))
    ]
    candidates = [place.resolver.id_of(a) for a in [resource.get("location"), *organisations, *performers]]
    pharmacy = next((c for c in candidates if c), None)
    row = _row(resource, patient, product, "dispense", dose) | {
        "start_date": day_of(resource.get("whenHandedOver")) or day_of(resource.get("whenPrepared")),
        "quantity": quantity,
        "quantity_unit": unit,
        "pharmacy_id": pharmacy,
        "setting": _setting(resource.get("category")) or "community",
    }
    bounds = read_bounds(resource.get("dosageInstruction"), row["start_date"])
    if order is not None:
        # The dispense rarely repeats who prescribed, and may carry no sig of its own.
        row["prescriber_id"] = order.prescriber_id
        row["units_per_day"] = row["units_per_day"] or order.units_per_day
        row["as_needed"] = row["as_needed"] or order.as_needed
        row["route"] = row["route"] or order.route
        if dose.units_per_day is None and order.units_per_day is not None:
            dose = DoseReading(None, dose.as_needed, dose.route)
            if bounds == (Days(), []):
                bounds = (Days(order.sig_bounds_days), [])  # the order's sig, so its course
    stated = read_duration(resource.get("daysSupply"), "daysSupply")
    row, notes = _with_supply(row, "daysSupply", stated, bounds, product.is_patch)
    _emit(run, place, record, row, dose, notes)


def read_statement(run: IngestRun, place: Place, resource: Resource) -> None:
    patient, product, record = _start(run, place, resource)
    if patient is None or product is None:
        return
    dose = read_dosages(resource.get("dosage"), is_patch=product.is_patch)
    period: Mapping[str, Any] = resource.get("effectivePeriod") or {}
    start = day_of(resource.get("effectiveDateTime")) or day_of(period.get("start"))
    end = day_of(period.get("end"))
    days = None
    notes: list[tuple[str, str]] = []
    if start and end and end >= start:
        days = str((date.fromisoformat(end) - date.fromisoformat(start)).days + 1)
    elif start and end:
        notes.append(("bad_duration", f"MedicationStatement/{record}: effectivePeriod ends {end} before it "
                      f"starts {start}; no duration"))  # fmt: skip
    row = _row(resource, patient, product, "statement", dose) | {
        "start_date": start,
        "days_supply": days,
        "supply_days_source": EFFECTIVE_PERIOD if days else None,
        "setting": _setting(resource.get("category")),
    }
    _emit(run, place, record, row, dose, notes)


def read_administration(run: IngestRun, place: Place, resource: Resource) -> None:
    """One administration is one day of supply; inpatient unless its category says otherwise."""
    patient, product, record = _start(run, place, resource)
    if patient is None or product is None:
        return
    dosage: Mapping[str, Any] = resource.get("dosage") or {}
    dose = read_dosages(dosage, is_patch=product.is_patch)
    quantity, unit = _quantity(dosage.get("dose"))
    if unit is not None and unit.strip().lower() not in PRODUCT_UNITS:
        quantity = None  # a dose in mg is not a count of the product; the exposure engine would misread it
    when = resource.get("effectiveDateTime") or period_start(resource.get("effectivePeriod"))
    kept = DoseReading(None, dose.as_needed, dose.route)
    row: Row = _row(resource, patient, product, "administration", kept) | {
        "start_date": day_of(when),
        "days_supply": "1",
        "supply_days_source": ADMINISTRATION,
        "quantity": quantity,
        "quantity_unit": unit,
        "setting": _setting(resource.get("category")) or "inpatient",
    }
    _emit(run, place, record, dict(row), DoseReading())
