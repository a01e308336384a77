"""A batch as the canonical tables (CONTRACTS.md): prescriptions, patients, events — all text columns.

Built with Arrow compute kernels rather than per-row Python, because the canonical path feeds the
benchmarks (millions of rows). The FHIR and OMOP writers reuse the identifiers and dates made here so
that one fill has the same ``rx_id`` and date in every format.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from taperwise.canonical import EVENT_COLUMNS, PATIENT_COLUMNS, PRESCRIPTION_COLUMNS
from taperwise.synth.events import KINDS, NO_DEATH
from taperwise.synth.generator import Batch, SynthContext
from taperwise.synth.malformed import all_kinds

IntArray = npt.NDArray[np.int64]


def texts(values: list[str] | tuple[str, ...], index: IntArray) -> pa.Array:
    """values[index] as an Arrow string array (index -1 gives null)."""
    mask = index < 0
    return pc.take(pa.array(list(values), pa.string()), pa.array(np.where(mask, 0, index), mask=mask))


def numbers(values: IntArray) -> pa.Array:
    return pa.array(values, pa.int64()).cast(pa.string())


def dates(context: SynthContext, days: IntArray) -> pa.Array:
    return pa.array(context.epoch + days.astype("timedelta64[D]"), pa.date32()).cast(pa.string())


def patient_ids(context: SynthContext, index: IntArray) -> pa.Array:
    serial = pc.utf8_lpad(numbers(index + 1), width=context.id_width, padding="0")
    return pc.binary_join_element_wise("SP", serial, "")


def variant_index(context: SynthContext, batch: Batch) -> IntArray:
    """The product text each fill is written with: the patient's style, else the product's RxNorm name."""
    table = context.products
    style = batch.people.style[batch.fills.person]
    variant = table.variant_of[batch.fills.product, style]
    return np.where(variant < 0, table.variant_of[batch.fills.product, 0], variant)


def rx_ids(context: SynthContext, batch: Batch) -> pa.Array:
    patients = pc.take(patient_ids(context, batch.people.index), pa.array(batch.fills.person))
    serial = pc.utf8_lpad(numbers(batch.seq + 1), width=3, padding="0")
    return pc.binary_join_element_wise(patients, serial, "-")


def kind_rows(context: SynthContext, batch: Batch, kind: str) -> IntArray:
    """Rows of the batch corrupted with `kind`."""
    return np.flatnonzero(batch.malformed == all_kinds(context.config.parameters.malformed).index(kind))


def bad_dates(context: SynthContext, batch: Batch, rows: IntArray) -> list[str]:
    patterns = context.config.parameters.malformed.bad_dates
    years = (context.epoch + batch.fills.start_day[rows].astype("timedelta64[D]")).astype("datetime64[Y]")
    return [patterns[i % len(patterns)].format(year=int(y.astype(int)) + 1970) for i, y in enumerate(years)]


def unknown_drugs(context: SynthContext, rows: IntArray) -> list[str]:
    names = context.config.parameters.malformed.unknown_drugs
    return [names[i % len(names)] for i in range(len(rows))]


def _replace(column: pa.Array, rows: IntArray, values: list[str | None]) -> pa.Array:
    if not len(rows):
        return column
    mask = np.zeros(len(column), dtype=bool)
    mask[rows] = True
    return pc.replace_with_mask(column, pa.array(mask), pa.array(values, pa.string()))


def prescription_table(context: SynthContext, batch: Batch) -> pa.Table:
    fills, products = batch.fills, context.products
    variants = [text for _, _, text in products.variants]
    rows = len(fills)
    as_needed = np.array([p.row.as_needed for p in products.products])[fills.product]
    liquid = np.array([p.dose_unit == "mL" for p in products.products])[fills.product]
    route = [p.route for p in products.products]
    sig = np.where(batch.structured, products.units_per_day[fills.product], -1)
    columns = {
        "patient_id": pc.take(patient_ids(context, batch.people.index), pa.array(fills.person)),
        "rx_id": rx_ids(context, batch),
        "drug": texts(variants, variant_index(context, batch)),
        "start_date": dates(context, fills.start_day),
        "days_supply": numbers(fills.days_supply),
        "quantity": numbers(fills.quantity),
        "units_per_day": pc.if_else(pa.array(sig >= 0), numbers(sig), pa.nulls(rows, pa.string())),
        "prescriber_id": texts(context.staff.prescribers, fills.prescriber),
        "pharmacy_id": texts(context.staff.pharmacies, fills.pharmacy),
        "source": pa.array(np.full(rows, "dispense")),
        "setting": pa.array(np.full(rows, "community")),
        "route": texts(route, fills.product),
        "status": pa.array(np.full(rows, "completed")),
        "as_needed": texts(["true"], np.where(as_needed, 0, -1)),
        "quantity_unit": texts(["mL"], np.where(liquid, 0, -1)),
    }
    _corrupt(context, batch, columns)
    return pa.table({name: columns.get(name, pa.nulls(rows, pa.string())) for name in PRESCRIPTION_COLUMNS})


def _corrupt(context: SynthContext, batch: Batch, columns: dict[str, pa.Array]) -> None:
    negative = kind_rows(context, batch, "negative_quantity")
    columns["quantity"] = _replace(
        columns["quantity"], negative, [f"-{q}" for q in batch.fills.quantity[negative]]
    )
    missing = kind_rows(context, batch, "missing_days_supply")
    for name in ("days_supply", "units_per_day"):
        columns[name] = _replace(columns[name], missing, [None] * len(missing))
    unknown = kind_rows(context, batch, "unknown_drug")
    columns["drug"] = _replace(columns["drug"], unknown, list(unknown_drugs(context, unknown)))
    bad = kind_rows(context, batch, "bad_date")
    columns["start_date"] = _replace(columns["start_date"], bad, list(bad_dates(context, batch, bad)))
    repeated = kind_rows(context, batch, "duplicate_rx_id")
    earlier = pc.take(columns["rx_id"], pa.array(repeated - 1)).to_pylist()
    columns["rx_id"] = _replace(columns["rx_id"], repeated, earlier)


def patient_table(context: SynthContext, batch: Batch) -> pa.Table:
    people = batch.people
    dead = batch.death_day < NO_DEATH
    return pa.table(
        {
            "patient_id": patient_ids(context, people.index),
            "sex": texts(["male", "female"], people.female.astype(np.int64)),
            "birth_date": dates(context, people.birth_day),
            "death_date": pc.if_else(
                pa.array(dead),
                dates(context, np.where(dead, batch.death_day, 0)),
                pa.nulls(len(dead), pa.string()),
            ),
            "organisation_id": texts(context.staff.organisations, people.organisation),
        }
    ).select(list(PATIENT_COLUMNS))


def event_table(context: SynthContext, batch: Batch) -> pa.Table:
    events, codes = batch.events, context.config.events
    return pa.table(
        {
            "patient_id": pc.take(patient_ids(context, batch.people.index), pa.array(events.person)),
            "date": dates(context, events.day),
            "kind": texts(KINDS, events.kind),
            "code": texts([c.code for c in codes], events.code),
            "code_system": texts([c.code_system for c in codes], events.code),
        }
    ).select(list(EVENT_COLUMNS))
