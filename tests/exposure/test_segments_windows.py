"""Trajectories and windows (clinical-rules §2): the interval sweep and the four average definitions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from taperwise.exposure.mme import prescription_mme
from taperwise.exposure.prescriptions import prescriptions_from_records
from taperwise.exposure.segments import constant_segments, daily_values
from tests.exposure.helpers import FENTANYL_25, OXY_ER_30, OXY_IR_10, rx, segments_of, window_of

D = dt.date
OXY_IR_5 = "Oxycodone Hydrochloride 5 MG Oral Tablet"


def test_reference_example_er_plus_ir_oxycodone_gives_the_four_published_averages():
    # clinical-rules §2: ER 30 mg BID (60/30 d) + IR 5 mg BID (14/7 d) on day 1, 30-day window.
    records = [rx("er", OXY_ER_30, days=30, qty=60), rx("ir", OXY_IR_5, days=7, qty=14)]
    result = window_of(records, D(2025, 1, 1), D(2025, 1, 30))["p1"]
    assert result["total_mme"] == Decimal("2805")
    assert result["days_supply_sum"] == 37
    assert result["days_covered"] == 30
    assert result["window_days"] == 30
    assert result["mme1"] == Decimal("75.8108")  # 2805 / 37
    assert result["mme2"] == Decimal("93.5")
    assert result["mme3"] == Decimal("93.5")
    assert result["mme4"] == Decimal("105")


def test_segments_split_where_the_total_changes_and_add_concurrent_prescriptions():
    records = [rx("er", OXY_ER_30, days=30, qty=60), rx("ir", OXY_IR_5, days=7, qty=14)]
    assert segments_of(records) == [
        ("p1", D(2025, 1, 1), D(2025, 1, 7), Decimal("105"), 2),
        ("p1", D(2025, 1, 8), D(2025, 1, 30), Decimal("90"), 1),
    ]


def test_back_to_back_refills_of_the_same_dose_make_one_segment():
    records = [rx("a", OXY_IR_10, "2025-01-01", 30, 60), rx("b", OXY_IR_10, "2025-01-31", 30, 60)]
    assert segments_of(records) == [("p1", D(2025, 1, 1), D(2025, 3, 1), Decimal("30"), 1)]


def test_a_gap_separates_segments_and_uncounted_days_are_not_covered():
    records = [rx("a", OXY_IR_10, "2025-01-01", 10, 20), rx("b", OXY_IR_10, "2025-01-21", 10, 20)]
    assert segments_of(records) == [
        ("p1", D(2025, 1, 1), D(2025, 1, 10), Decimal("30"), 1),
        ("p1", D(2025, 1, 21), D(2025, 1, 30), Decimal("30"), 1),
    ]
    result = window_of(records, D(2025, 1, 1), D(2025, 1, 31))["p1"]
    assert result["days_covered"] == 20
    assert result["mme3"] == Decimal("19.3548")  # 600 / 31


def test_early_refill_overlap_adds_during_the_overlap():
    records = [rx("a", OXY_IR_10, "2025-01-01", 30, 60), rx("b", OXY_IR_10, "2025-01-26", 30, 60)]
    assert segments_of(records) == [
        ("p1", D(2025, 1, 1), D(2025, 1, 25), Decimal("30"), 1),
        ("p1", D(2025, 1, 26), D(2025, 1, 30), Decimal("60"), 2),
        ("p1", D(2025, 1, 31), D(2025, 2, 24), Decimal("30"), 1),
    ]


def test_window_clips_prescriptions_to_its_days():
    records = [rx("a", FENTANYL_25, "2024-12-17", 30, 10)]  # 2024-12-17 .. 2025-01-15
    result = window_of(records, D(2025, 1, 1), D(2025, 1, 31))["p1"]
    assert result["days_supply_sum"] == 15
    assert result["days_covered"] == 15
    assert result["total_mme"] == Decimal("900")
    assert result["mme1"] == result["mme2"] == Decimal("60")


def test_patients_with_nothing_counted_in_the_window_still_get_a_row():
    records = [rx("a", OXY_IR_10, "2024-01-01", patient_id="old"), rx("b", OXY_IR_10, patient_id="now")]
    result = window_of(records, D(2025, 1, 1), D(2025, 1, 30))
    assert result["old"]["total_mme"] == 0
    assert result["old"]["mme1"] is None  # no denominator: empty, not zero
    assert result["old"]["mme3"] == 0
    assert result["now"]["mme3"] == Decimal("15")


def test_window_end_before_start_is_refused():
    with pytest.raises(ValueError, match="before its start"):
        window_of([rx("a", OXY_IR_10)], D(2025, 2, 1), D(2025, 1, 1))


def test_daily_values_expand_one_patients_segments_on_demand():
    rows = prescription_mme(prescriptions_from_records([rx("a", OXY_IR_10, "2025-01-02", 2, 4)]))
    values = daily_values(constant_segments(rows), "p1", D(2025, 1, 1), D(2025, 1, 4))
    assert values == [
        (D(2025, 1, 1), 0.0),
        (D(2025, 1, 2), 30.0),
        (D(2025, 1, 3), 30.0),
        (D(2025, 1, 4), 0.0),
    ]
