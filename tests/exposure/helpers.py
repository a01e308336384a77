"""Run the exposure engine on Python records, for tests that read like the clinical rules."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from taperwise.exposure.mme import prescription_mme
from taperwise.exposure.options import EarlyRefills
from taperwise.exposure.prescriptions import ROW, prescriptions_from_records
from taperwise.exposure.refills import apply_early_refills
from taperwise.exposure.registry import registry
from taperwise.exposure.segments import constant_segments
from taperwise.exposure.windows import window_metrics
from taperwise.knowledge.registry import load_priority_rules, load_registry_settings

OXY_ER_30 = "12 HR Oxycodone Hydrochloride 30 MG Extended Release Oral Tablet"
OXY_IR_5 = "Oxycodone Hydrochloride 5 MG Oral Tablet"
OXY_IR_10 = "Oxycodone Hydrochloride 10 MG Oral Tablet"
FENTANYL_25 = "72 HR Fentanyl 0.025 MG/HR Transdermal System"
HYDROCODONE_APAP = "Acetaminophen 325 MG / Hydrocodone Bitartrate 5 MG Oral Tablet"
OXY_APAP = "Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet"
METHADONE_10 = "Methadone Hydrochloride 10 MG Oral Tablet"
OXY_SOLUTION = "Oxycodone Hydrochloride 1 MG/ML Oral Solution"
BUPRENORPHINE_PATCH = "Buprenorphine 0.01 MG/HR 7 DAY Transdermal System"
ALPRAZOLAM = "Alprazolam 0.5 MG Oral Tablet"


def rx(
    rx_id: str, drug: str, start: str = "2025-01-01", days: Any = 30, qty: Any = 30, **extra: Any
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "patient_id": extra.pop("patient_id", "p1"),
        "rx_id": rx_id,
        "drug": drug,
        "start_date": start,
        "days_supply": days,
        "quantity": qty,
    }
    record.update(extra)
    return record


def mme_rows(records: list[dict[str, Any]], factor_set: str = "cdc-2022") -> list[dict[str, Any]]:
    table = prescription_mme(prescriptions_from_records(records), factor_set)
    return table.order_by(ROW).to_pyarrow().to_pylist()


def segment_rows(
    records: list[dict[str, Any]], factor_set: str = "cdc-2022", early_refills: EarlyRefills = "add"
) -> list[dict[str, Any]]:
    rows = apply_early_refills(
        prescription_mme(prescriptions_from_records(records), factor_set), early_refills
    )
    return constant_segments(rows).to_pyarrow().to_pylist()


def segments_of(
    records: list[dict[str, Any]], factor_set: str = "cdc-2022", early_refills: EarlyRefills = "add"
) -> list[tuple[Any, ...]]:
    return [
        (r["patient_id"], r["start_date"], r["end_date"], r["daily_mme"], r["n_opioids"])
        for r in segment_rows(records, factor_set, early_refills)
    ]


def window_of(
    records: list[dict[str, Any]], first: dt.date, last: dt.date, early_refills: EarlyRefills = "add"
) -> dict[str, dict[str, Any]]:
    rows = apply_early_refills(prescription_mme(prescriptions_from_records(records)), early_refills)
    result = window_metrics(rows, constant_segments(rows), first, last).to_pyarrow().to_pylist()
    return {r["patient_id"]: r for r in result}


def registry_of(
    records: list[dict[str, Any]], as_of: dt.date, early_refills: EarlyRefills = "add"
) -> dict[str, dict[str, Any]]:
    rows = prescription_mme(prescriptions_from_records(records))
    table = registry(
        rows, as_of, load_registry_settings(), load_priority_rules(), early_refills=early_refills
    )
    return {r["patient_id"]: r for r in table.to_pyarrow().to_pylist()}


def d(value: str) -> Decimal:
    return Decimal(value)
