"""Trajectories and windows (clinical-rules §2): the interval sweep and the four average definitions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from taperwise.exposure.mme import prescription_mme
from taperwise.exposure.prescriptions import prescriptions_from_records
from taperwise.exposure.segments import constant_segments, daily_values
from tests.exposure.helpers import FENTANYL_25, OXY_ER_30, OXY_IR_10, rx, segment_rows, segments_of, window_of

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
    # ER and IR oxycodone: two products, one drug (n_opioids counts drugs), no fill of one product twice
    records = [rx("er", OXY_ER_30, days=30, qty=60), rx("ir", OXY_IR_5, days=7, qty=14)]
    assert segments_of(records) == [
        ("p1", D(2025, 1, 1), D(2025, 1, 7), Decimal("105"), 1),
        ("p1", D(2025, 1, 8), D(2025, 1, 30), Decimal("90"), 1),
    ]
    assert [s["overlapping_fills"] for s in segment_rows(records)] == [0, 0]


def test_n_opioids_counts_distinct_drugs_in_supply_on_one_day_not_fills():
    records = [
        rx("oxy-1", OXY_IR_10, "2025-01-01", 30, 60),
        rx("oxy-2", OXY_IR_10, "2025-01-20", 30, 60),  # an early refill: still one drug
        rx("fent", FENTANYL_25, "2025-01-25", 30, 10),  # a second drug
    ]
    counts = [(s["start_date"], s["n_opioids"], s["overlapping_fills"]) for s in segment_rows(records)]
    assert counts == [
        (D(2025, 1, 1), 1, 0),  # oxycodone alone
        (D(2025, 1, 20), 1, 1),  # two oxycodone fills: one drug, one fill beyond the first
        (D(2025, 1, 25), 2, 1),  # + fentanyl
        (D(2025, 1, 31), 2, 0),  # the first oxycodone fill ran out
        (D(2025, 2, 19), 1, 0),  # fentanyl alone
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
        ("p1", D(2025, 1, 26), D(2025, 1, 30), Decimal("60"), 1),
        ("p1", D(2025, 1, 31), D(2025, 2, 24), Decimal("30"), 1),
    ]
    # the doubled range is labelled: it holds two fills of one product
    assert [s["overlapping_fills"] for s in segment_rows(records)] == [0, 1, 0]


def test_carry_forward_moves_an_early_refill_to_the_day_after_the_previous_fill_ends():
    records = [rx("a", OXY_IR_10, "2025-01-01", 30, 60), rx("b", OXY_IR_10, "2025-01-26", 30, 60)]
    assert segments_of(records, early_refills="carry-forward") == [
        ("p1", D(2025, 1, 1), D(2025, 3, 1), Decimal("30"), 1),  # 60 days at 30, taken in turn
    ]
    assert [s["overlapping_fills"] for s in segment_rows(records, early_refills="carry-forward")] == [0]
    window = window_of(records, D(2025, 1, 1), D(2025, 3, 31), early_refills="carry-forward")["p1"]
    assert window["total_mme"] == Decimal("1800")  # the same total supply: nothing is lost
    assert window["mme4"] == Decimal("30")
    assert window_of(records, D(2025, 1, 1), D(2025, 3, 31))["p1"]["mme4"] == Decimal("60")


def test_carry_forward_stacks_several_early_refills_and_leaves_other_products_alone():
    records = [
        rx("a", OXY_IR_10, "2025-01-01", 10, 20),
        rx("b", OXY_IR_10, "2025-01-05", 10, 20),  # -> 01-11 .. 01-20
        rx("c", OXY_IR_10, "2025-01-08", 10, 20),  # -> 01-21 .. 01-30
        rx("d", OXY_IR_10, "2025-03-01", 10, 20),  # after a gap: its own date
        rx("er", OXY_ER_30, "2025-01-03", 10, 20),  # another product of the same drug: not moved
    ]
    assert segments_of(records, early_refills="carry-forward") == [
        ("p1", D(2025, 1, 1), D(2025, 1, 2), Decimal("30"), 1),
        ("p1", D(2025, 1, 3), D(2025, 1, 12), Decimal("120"), 1),
        ("p1", D(2025, 1, 13), D(2025, 1, 30), Decimal("30"), 1),
        ("p1", D(2025, 3, 1), D(2025, 3, 10), Decimal("30"), 1),
    ]


def test_carry_forward_keeps_the_prescriptions_own_dates_in_the_per_row_output():
    from taperwise.exposure.refills import carry_forward

    records = [rx("a", OXY_IR_10, "2025-01-01", 30, 60), rx("b", OXY_IR_10, "2025-01-26", 30, 60)]
    rows = prescription_mme(prescriptions_from_records(records))
    moved = {r["rx_id"]: r["start_date"] for r in carry_forward(rows).to_pyarrow().to_pylist()}
    assert moved == {"a": D(2025, 1, 1), "b": D(2025, 1, 31)}
    assert [r["start_date"] for r in rows.to_pyarrow().to_pylist()] == [D(2025, 1, 1), D(2025, 1, 26)]


def test_an_unknown_early_refill_rule_is_refused_naming_the_rules():
    from taperwise.errors import UnusableInputError
    from taperwise.exposure.options import check_early_refills

    with pytest.raises(UnusableInputError, match="add, carry-forward"):
        check_early_refills("shift")


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
