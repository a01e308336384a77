"""Properties that must hold for any prescriptions: never negative, additive, order-free, one formula."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

import ibis.expr.types as ir
from hypothesis import given, settings
from hypothesis import strategies as st

from taperwise.exposure.dose import daily_mme
from taperwise.exposure.refills import PRODUCT_KEY, carry_forward
from taperwise.exposure.segments import coverage_intervals
from tests.exposure.helpers import mme_rows, registry_of, run_compiled, segment_rows, segments_of, window_of

PRODUCTS = [
    "Oxycodone Hydrochloride 5 MG Oral Tablet",
    "Acetaminophen 325 MG / Hydrocodone Bitartrate 10 MG Oral Tablet",
    "72 HR Fentanyl 0.05 MG/HR Transdermal System",
    "Methadone Hydrochloride 5 MG Oral Tablet",
    "Tramadol Hydrochloride 50 MG Oral Tablet",
    "Morphine Sulfate 15 MG Oral Tablet",
    "Hydromorphone Hydrochloride 4 MG Oral Tablet",
    "Tapentadol 50 MG Oral Tablet",
    "Codeine Sulfate 30 MG Oral Tablet",
]
START = dt.date(2025, 1, 1)

prescription = st.fixed_dictionaries(
    {
        "patient_id": st.sampled_from(["p1", "p2", "p3"]),
        "drug": st.sampled_from(PRODUCTS),
        "start_date": st.integers(0, 90).map(lambda n: (START + dt.timedelta(days=n)).isoformat()),
        "days_supply": st.integers(1, 60),
        "quantity": st.integers(1, 240),
    }
)
prescriptions = st.lists(prescription, min_size=1, max_size=12).map(
    lambda rows: [dict(row, rx_id=f"rx{i}") for i, row in enumerate(rows)]
)
FAST = settings(max_examples=20, deadline=None)
SLOW = settings(max_examples=10, deadline=None)


@FAST
@given(prescriptions)
def test_mme_is_never_negative_and_counted_rows_have_a_positive_dose(records):
    for row in mme_rows(records):
        if row["status"] == "ok":
            assert row["daily_mme"] > 0
        else:
            assert row["daily_mme"] is None


def _product(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[name] for name in PRODUCT_KEY)


@FAST
@given(prescriptions)
def test_segment_levels_are_the_sum_of_concurrent_prescriptions_and_counts_the_most_on_any_day(records):
    rows = [r for r in mme_rows(records) if r["status"] == "ok"]
    for segment in segment_rows(records):
        drugs, repeated = 0, 0
        for day in _days(segment["start_date"], segment["end_date"]):
            active = [
                r
                for r in rows
                if r["patient_id"] == segment["patient_id"] and r["start_date"] <= day <= r["end_date"]
            ]
            assert sum(r["daily_mme"] for r in active) == segment["daily_mme"]
            drugs = max(drugs, len({r["ingredient"] for r in active}))  # n_opioids: distinct drugs
            repeated = max(repeated, len(active) - len({_product(r) for r in active}))
        assert (segment["n_opioids"], segment["overlapping_fills"]) == (drugs, repeated)


def _carried_forward(rows: list[dict[str, Any]]) -> dict[str, tuple[dt.date, dt.date]]:
    """The naive answer: per product in start order, each fill starts after the previous one ends."""
    moved: dict[str, tuple[dt.date, dt.date]] = {}
    last_end: dict[tuple[Any, ...], dt.date] = {}
    for r in sorted(rows, key=lambda r: (r["start_date"], r["_row"])):
        key = _product(r)
        days = (r["end_date"] - r["start_date"]).days
        start = r["start_date"]
        if key in last_end and last_end[key] >= start:
            start = last_end[key] + dt.timedelta(days=1)
        moved[r["rx_id"]] = (start, start + dt.timedelta(days=days))
        last_end[key] = start + dt.timedelta(days=days)
    return moved


@SLOW
@given(prescriptions)
def test_carry_forward_takes_the_fills_of_each_product_in_turn_and_keeps_every_day_of_supply(records):
    rows = mme_rows(records)
    moved = run_compiled(records, carry_forward)
    supplied = [r for r in rows if r["supply"] and r["ingredient"] is not None]
    expected = _carried_forward(supplied)
    assert {r["rx_id"]: (r["start_date"], r["end_date"]) for r in moved if r["rx_id"] in expected} == expected
    untouched = {r["rx_id"]: r for r in rows if r["rx_id"] not in expected}
    assert {r["rx_id"]: r for r in moved if r["rx_id"] in untouched} == untouched
    # no two fills of one product overlap any more, so no range counts a repeated fill
    assert all(s["overlapping_fills"] == 0 for s in segment_rows(records, early_refills="carry-forward"))
    window = (START, START + dt.timedelta(days=400))  # wide enough to hold every moved day
    added, carried = window_of(records, *window), window_of(records, *window, early_refills="carry-forward")
    assert {p: r["total_mme"] for p, r in added.items()} == {p: r["total_mme"] for p, r in carried.items()}


@SLOW
@given(prescriptions, st.randoms(use_true_random=False))
def test_segments_and_windows_do_not_depend_on_input_order(records, random):
    shuffled = records[:]
    random.shuffle(shuffled)
    assert segments_of(shuffled) == segments_of(records)
    window = (START, START + dt.timedelta(days=89))
    assert window_of(shuffled, *window) == window_of(records, *window)


@SLOW
@given(prescriptions)
def test_window_total_equals_the_sum_over_days_of_the_segments(records):
    first, last = START + dt.timedelta(days=10), START + dt.timedelta(days=70)
    windows = window_of(records, first, last)
    for patient, result in windows.items():
        total = Decimal(0)
        covered = 0
        for p, s, e, level, _ in segments_of(records):
            if p != patient:
                continue
            days = (min(e, last) - max(s, first)).days + 1
            if days > 0:
                total += level * days
                covered += days
        assert result["total_mme"] == total
        assert result["days_covered"] == covered


@FAST
@given(prescriptions)
def test_engine_and_scalar_mme_agree_row_by_row(records):
    for row in mme_rows(records):
        if row["status"] != "ok":
            continue
        amount = Decimal(str(row["strength"])) * Decimal(str(row["units_per_day"]))
        unit = "mcg/hr" if row["strength_unit"] == "mcg/hr" else row["strength_unit"]
        scalar = daily_mme(row["ingredient"], row["route"], amount, unit)
        assert abs(scalar.daily_mme - row["daily_mme"]) <= Decimal("0.0001")
        assert float(scalar.factor.factor) == row["mme_factor"]


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def _daily_totals(rows: list[dict[str, Any]]) -> dict[tuple[str, dt.date], Decimal]:
    """The naive answer: one entry per patient and day, summed over the prescriptions covering it."""
    totals: dict[tuple[str, dt.date], Decimal] = {}
    for r in rows:
        for day in _days(r["start_date"], r["end_date"]):
            key = (r["patient_id"], day)
            totals[key] = totals.get(key, Decimal(0)) + r["daily_mme"]
    return totals


@FAST
@given(prescriptions)
def test_segments_give_every_counted_day_its_total_once_and_are_maximal(records):
    expected = _daily_totals([r for r in mme_rows(records) if r["status"] == "ok"])
    segments = segments_of(records)
    seen: dict[tuple[str, dt.date], Decimal] = {}
    for patient, first, last, level, _ in segments:
        for day in _days(first, last):
            assert (patient, day) not in seen, "segments overlap"
            seen[(patient, day)] = level
    assert seen == {key: total for key, total in expected.items() if total > 0}
    for before, after in itertools.pairwise(segments):
        if before[0] == after[0] and before[2] + dt.timedelta(days=1) == after[1]:
            assert before[3] != after[3], "touching segments at the same level must be one"


def _supply_intervals(rows: ir.Table) -> ir.Table:
    return coverage_intervals(rows.filter(rows.supply))


@FAST
@given(prescriptions)
def test_coverage_intervals_are_the_covered_days_merged(records):
    supply = [r for r in mme_rows(records) if r["supply"]]
    expected = {(r["patient_id"], day) for r in supply for day in _days(r["start_date"], r["end_date"])}
    intervals = sorted(
        (r["patient_id"], r["start_date"], r["end_date"]) for r in run_compiled(records, _supply_intervals)
    )
    covered = [(p, day) for p, first, last in intervals for day in _days(first, last)]
    assert len(covered) == len(set(covered)), "ranges overlap"
    assert set(covered) == expected
    for before, after in itertools.pairwise(intervals):
        if before[0] == after[0]:
            assert after[1] > before[2] + dt.timedelta(days=1), "touching ranges must be merged"


@SLOW
@given(prescriptions, st.integers(0, 200))
def test_registry_dose_and_coverage_match_a_day_by_day_count(records, offset):
    as_of = START + dt.timedelta(days=offset)
    window = _days(as_of - dt.timedelta(days=89), as_of)
    rows = mme_rows(records)
    totals = _daily_totals([r for r in rows if r["status"] == "ok"])
    covered = {
        (r["patient_id"], day)
        for r in rows
        if r["supply"] and r["status"] != "excluded"
        for day in _days(r["start_date"], r["end_date"])
    }
    for patient, row in registry_of(records, as_of).items():
        in_window = [totals.get((patient, day), Decimal(0)) for day in window]
        assert abs(row["avg_daily_mme_90d"] - sum(in_window) / 90) <= Decimal("0.0001")
        assert row["max_daily_mme_90d"] == max(in_window)
        assert row["days_covered_90d"] == sum((patient, day) in covered for day in window)
