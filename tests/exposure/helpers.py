"""Run the exposure engine on Python records, for tests that read like the clinical rules."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from functools import cache, partial
from typing import Any

import ibis.expr.types as ir

from taperwise.exposure.compiled import CompiledExposure
from taperwise.exposure.options import EarlyRefills
from taperwise.exposure.prescriptions import ROW
from taperwise.exposure.refills import apply_early_refills
from taperwise.exposure.registry import registry
from taperwise.exposure.segments import constant_segments
from taperwise.exposure.windows import window_metrics
from taperwise.knowledge.registry import load_priority_rules, load_registry_settings
from taperwise.plausible import DateRange

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


@cache
def _compiled(
    build: Callable[..., ir.Table] | None,
    params: tuple[tuple[str, Any], ...],
    factor_set: str,
    dates: DateRange,
) -> CompiledExposure:
    return CompiledExposure(None if build is None else partial(build, **dict(params)), factor_set, dates)


def run_compiled(
    records: list[dict[str, Any]],
    build: Callable[..., ir.Table] | None,
    factor_set: str = "cdc-2022",
    **params: Any,
) -> list[dict[str, Any]]:
    """The engine's expression `build(prescription_mme(records), **params)` as rows: compiled once per
    expression (taperwise.exposure.compiled: the engine's own SQL) and run on each test's records, so
    that property tests pay Ibis's compilation once rather than once per example. That this path gives
    the rows of the expression run the usual way is tested in tests/exposure/test_compiled.py."""
    key = tuple(sorted(params.items()))
    return _compiled(build, key, factor_set, DateRange.from_environment()).run(records).to_pylist()


def mme_rows(records: list[dict[str, Any]], factor_set: str = "cdc-2022") -> list[dict[str, Any]]:
    return sorted(run_compiled(records, None, factor_set), key=lambda row: row[ROW])


def _segments(rows: ir.Table, early_refills: EarlyRefills) -> ir.Table:
    return constant_segments(apply_early_refills(rows, early_refills))


def segment_rows(
    records: list[dict[str, Any]], factor_set: str = "cdc-2022", early_refills: EarlyRefills = "add"
) -> list[dict[str, Any]]:
    return run_compiled(records, _segments, factor_set, early_refills=early_refills)


def segments_of(
    records: list[dict[str, Any]], factor_set: str = "cdc-2022", early_refills: EarlyRefills = "add"
) -> list[tuple[Any, ...]]:
    return [
        (r["patient_id"], r["start_date"], r["end_date"], r["daily_mme"], r["n_opioids"])
        for r in segment_rows(records, factor_set, early_refills)
    ]


def _window(rows: ir.Table, first: dt.date, last: dt.date, early_refills: EarlyRefills) -> ir.Table:
    refilled = apply_early_refills(rows, early_refills)
    return window_metrics(refilled, constant_segments(refilled), first, last)


def window_of(
    records: list[dict[str, Any]], first: dt.date, last: dt.date, early_refills: EarlyRefills = "add"
) -> dict[str, dict[str, Any]]:
    result = run_compiled(records, _window, first=first, last=last, early_refills=early_refills)
    return {r["patient_id"]: r for r in result}


def _registry(rows: ir.Table, as_of: dt.date, early_refills: EarlyRefills) -> ir.Table:
    return registry(rows, as_of, load_registry_settings(), load_priority_rules(), early_refills=early_refills)


def registry_of(
    records: list[dict[str, Any]], as_of: dt.date, early_refills: EarlyRefills = "add"
) -> dict[str, dict[str, Any]]:
    result = run_compiled(records, _registry, as_of=as_of, early_refills=early_refills)
    return {r["patient_id"]: r for r in result}


def d(value: str) -> Decimal:
    return Decimal(value)
