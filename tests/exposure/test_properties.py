"""Properties that must hold for any prescriptions: never negative, additive, order-free, one formula."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from taperwise.exposure.dose import daily_mme
from tests.exposure.helpers import mme_rows, segments_of, window_of

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


@FAST
@given(prescriptions)
def test_segment_levels_are_the_sum_of_concurrent_prescriptions(records):
    rows = [r for r in mme_rows(records) if r["status"] == "ok"]
    for patient, first, last, level, count in segments_of(records):
        for day in (first, last):
            active = [
                r for r in rows if r["patient_id"] == patient and r["start_date"] <= day <= r["end_date"]
            ]
            assert sum(r["daily_mme"] for r in active) == level
            assert 1 <= len(active) <= count


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
