"""The registry on a small cohort whose flags and ranking were worked out by hand (clinical-rules §3).

As-of date 2025-06-30: the recent window is 2025-04-02 … 2025-06-30 (90 days), the lookback window
2025-01-02 … 2025-06-30 (180 days).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import ibis
import pyarrow as pa
import pytest

from taperwise.exposure.mme import prescription_mme
from taperwise.exposure.prescriptions import prescriptions_from_records
from taperwise.exposure.registry import registry, run_registry
from taperwise.exposure.segments import constant_segments
from taperwise.knowledge.registry import load_priority_rules, load_registry_settings
from tests.exposure.helpers import ALPRAZOLAM, BUPRENORPHINE_PATCH, OXY_ER_30, OXY_IR_10, rx

AS_OF = dt.date(2025, 6, 30)
RECENT_START = "2025-04-02"
SUBLINGUAL_BUP = "Buprenorphine 8 MG Sublingual Tablet"


def fill(
    patient: str, rx_id: str, drug: str, start: str, days: int, qty: int, **extra: Any
) -> dict[str, Any]:
    return rx(rx_id, drug, start, days, qty, patient_id=patient, **extra)


def cohort() -> list[dict[str, Any]]:
    rows = [
        # HIGH: 90 MME/day (oxycodone ER 30 mg BID) all 90 recent days + alprazolam 30 days → rank 2
        fill("HIGH", "h1", OXY_ER_30, RECENT_START, 90, 180, prescriber_id="X", pharmacy_id="1"),
        fill("HIGH", "h2", ALPRAZOLAM, "2025-05-01", 30, 60, prescriber_id="Z", pharmacy_id="1"),
        # LTOT60: exactly 60 covered days in the recent window at 30 MME → long-term, rank 9
        fill("LTOT60", "l1", OXY_IR_10, "2025-05-02", 60, 120, prescriber_id="X", pharmacy_id="1"),
        # SHORT59: 59 days → not long-term, rank 11
        fill("SHORT59", "s1", OXY_IR_10, "2025-05-03", 59, 118, prescriber_id="X", pharmacy_id="1"),
        # OLD: last supply ended before the lookback window → not in the registry
        # LATE: supply began before the lookback and ended inside it, none in the last 90 days → rank 11
        fill("LATE", "t1", OXY_IR_10, "2024-12-20", 30, 60, prescriber_id="X", pharmacy_id="1"),
        fill("OLD", "o1", OXY_IR_10, "2024-11-01", 30, 60, prescriber_id="X", pharmacy_id="1"),
        # MOUD: sublingual buprenorphine only → treatment for opioid use disorder, not in the registry
        fill("MOUD", "m1", SUBLINGUAL_BUP, "2025-05-01", 30, 30, route="sublingual"),
        # BUPPATCH: buprenorphine patch for pain → listed, no MME, covered and buprenorphine days counted
        fill("BUPPATCH", "b1", BUPRENORPHINE_PATCH, "2025-04-02", 28, 4, units_per_day=1),
        # NEWRX: two fills by X, the latest by Y → new prescriber
        fill("NEWRX", "n1", OXY_IR_10, "2025-04-05", 30, 60, prescriber_id="X", pharmacy_id="1"),
        fill("NEWRX", "n2", OXY_IR_10, "2025-05-05", 30, 60, prescriber_id="X", pharmacy_id="1"),
        fill("NEWRX", "n3", OXY_IR_10, "2025-06-04", 30, 60, prescriber_id="Y", pharmacy_id="1"),
        # NOPRESCRIBER: latest fill names no prescriber → new_prescriber unknown (empty), not false
        fill("NOPRESCRIBER", "u1", OXY_IR_10, "2025-05-01", 30, 60, prescriber_id="X"),
        fill("NOPRESCRIBER", "u2", OXY_IR_10, "2025-06-01", 30, 60),
        # BROKEN: the only opioid record, in the 90 days, is unusable: its dose is unknown, never low → rank 3
        fill("BROKEN", "x1", OXY_IR_10, "2025-05-01", 30, -60),
        # OVERDOSE: low dose but an overdose event → rank 1
        fill("OVERDOSE", "v1", OXY_IR_10, "2025-06-01", 10, 10),
    ]
    # MANY: 4 prescribers and 4 pharmacies on short fills → multi-provider, rank 6
    for i, start in enumerate(["2025-02-01", "2025-03-01", "2025-04-01", "2025-05-01"]):
        rows.append(
            fill("MANY", f"p{i}", OXY_IR_10, start, 7, 14, prescriber_id=f"D{i}", pharmacy_id=f"P{i}")
        )
    # FEWPHARM: 4 prescribers but 3 pharmacies → not multi-provider
    for i, start in enumerate(["2025-02-01", "2025-03-01", "2025-04-01", "2025-05-01"]):
        rows.append(
            fill("FEWPHARM", f"q{i}", OXY_IR_10, start, 7, 14, prescriber_id=f"D{i}", pharmacy_id=f"P{i % 3}")
        )
    return rows


def events() -> ibis.Table:
    table = pa.table(
        {
            "patient_id": ["OVERDOSE", "HIGH"],
            "date": ["2025-06-12", "2024-01-01"],
            "kind": ["opioid_overdose", "emergency_visit"],
            "code": ["T40.2X1A", "EMER"],
            "code_system": ["ICD-10-CM", "v3-ActCode"],
        }
    )
    return ibis.memtable(table)


def run(ltot: str | None = None, with_events: bool = True) -> dict[str, dict[str, Any]]:
    settings = load_registry_settings()
    if ltot:
        settings = settings.with_ltot(ltot)
    rows = prescription_mme(prescriptions_from_records(cohort()))
    table = registry(rows, AS_OF, settings, load_priority_rules(), events() if with_events else None)
    return {row["patient_id"]: row for row in table.to_pyarrow().to_pylist()}


@pytest.fixture(scope="module")
def result() -> dict[str, dict[str, Any]]:
    return run()


def test_population_is_patients_with_opioid_supply_in_the_lookback(result):
    expected = [
        "LATE",
        "HIGH",
        "LTOT60",
        "SHORT59",
        "BUPPATCH",
        "NEWRX",
        "NOPRESCRIBER",
        "BROKEN",
        "OVERDOSE",
        "MANY",
        "FEWPHARM",
    ]
    assert set(result) == set(expected)


def test_high_dose_and_benzodiazepine_overlap(result):
    high = result["HIGH"]
    assert high["avg_daily_mme_90d"] == Decimal("90")
    assert high["max_daily_mme_90d"] == Decimal("90")
    assert high["high_dose_90"] is True  # >= 90, the threshold is inclusive
    assert high["high_dose_50"] is True
    assert high["benzo_overlap_days_90d"] == 30
    assert high["priority"] == 2


def test_long_term_therapy_threshold_is_inclusive(result):
    assert result["LTOT60"]["days_covered_90d"] == 60
    assert result["LTOT60"]["ltot"] is True
    assert result["SHORT59"]["days_covered_90d"] == 59
    assert result["SHORT59"]["ltot"] is False


def test_the_ltot_definition_is_a_setting():
    as_90_of_180 = run(ltot="90-of-180")
    assert as_90_of_180["LTOT60"]["ltot"] is False  # 60 days is not >= 90 of 180
    assert as_90_of_180["HIGH"]["ltot"] is True


def test_buprenorphine_for_pain_counts_as_opioid_therapy_but_not_in_mme(result):
    patch = result["BUPPATCH"]
    assert patch["avg_daily_mme_90d"] == 0
    assert patch["buprenorphine_days_90d"] == 28
    assert patch["days_covered_90d"] == 28


def test_multiple_providers_needs_both_prescribers_and_pharmacies(result):
    assert (result["MANY"]["prescribers_180d"], result["MANY"]["pharmacies_180d"]) == (4, 4)
    assert result["MANY"]["multi_provider"] is True
    assert result["MANY"]["priority"] == 6
    assert (result["FEWPHARM"]["prescribers_180d"], result["FEWPHARM"]["pharmacies_180d"]) == (4, 3)
    assert result["FEWPHARM"]["multi_provider"] is False


def test_new_prescriber_flags_inherited_patients_and_stays_empty_when_unknown(result):
    assert result["NEWRX"]["new_prescriber"] is True
    assert result["LTOT60"]["new_prescriber"] is False  # a single fill: nobody to inherit from
    assert result["NOPRESCRIBER"]["new_prescriber"] is None


def test_every_listed_patient_gets_a_priority_even_without_recent_supply(result):
    late = result["LATE"]
    assert (late["days_covered_90d"], late["prescribers_180d"]) == (0, 0)
    assert late["priority"] == 11
    assert late["priority_reason"] == "opioid supply in the last 180 days"


def test_unusable_records_keep_the_patient_visible_for_review(result):
    broken = result["BROKEN"]
    assert broken["problem_records_180d"] == 1
    assert broken["dose_complete"] is False
    assert broken["high_dose_90"] is None  # unknown, not false
    assert broken["priority"] == 3
    assert broken["priority_reason"].startswith("dose incomplete, ranked as if average >= 90 MME/day")
    assert "quantity '-60' must be a number above zero" in broken["priority_reason"]


def test_harm_events_are_shown_and_an_overdose_ranks_first(result):
    assert result["OVERDOSE"]["opioid_overdose_180d"] == 1
    assert result["OVERDOSE"]["last_harm_event"] == "opioid_overdose 2025-06-12"
    assert result["OVERDOSE"]["priority"] == 1
    assert result["HIGH"]["harm_events_180d"] == 0  # its event is outside the 180-day window


def test_hand_ranked_order_of_the_cohort():
    table = registry(
        prescription_mme(prescriptions_from_records(cohort())),
        AS_OF,
        load_registry_settings(),
        load_priority_rules(),
        events(),
    )
    order = [row["patient_id"] for row in table.to_pyarrow().to_pylist()]
    # a dose that cannot be computed ranks as if at the threshold it might reach, right after HIGH
    assert order[:4] == ["OVERDOSE", "HIGH", "BROKEN", "MANY"]
    assert all(row["priority"] is not None for row in table.to_pyarrow().to_pylist())
    assert order.index("LTOT60") < order.index("SHORT59")


def test_the_registry_command_path_gives_the_same_registry_and_its_patients_whole_segments():
    rows = prescription_mme(prescriptions_from_records(cohort()))
    settings, rules = load_registry_settings(), load_priority_rules()
    direct = registry(rows, AS_OF, settings, rules, events()).to_pyarrow().to_pylist()
    with run_registry(rows, AS_OF, settings, rules, events()) as run:
        assert run.table.to_pyarrow().to_pylist() == direct
        segments = run.segments.to_pyarrow().to_pylist()
    listed = {row["patient_id"] for row in direct}
    everyone = constant_segments(rows).to_pyarrow().to_pylist()
    assert segments == [s for s in everyone if s["patient_id"] in listed]
    # Whole history, not only the registry's window: the trajectory starts with the first fill.
    assert min(s["start_date"] for s in segments) < AS_OF - dt.timedelta(days=179)
    assert {s["patient_id"] for s in everyone} - listed, "the cohort must have someone not listed"


def test_coverage_counts_a_day_once_when_fills_start_on_the_same_day():
    records = [
        fill("TIES", "t1", OXY_IR_10, "2025-05-01", 10, 20),
        fill("TIES", "t2", OXY_IR_10, "2025-05-01", 30, 60),
        fill("TIES", "t3", OXY_IR_10, "2025-05-01", 20, 40),
        fill("TIES", "t4", OXY_IR_10, "2025-05-31", 5, 10),  # the day after t2 ends: one unbroken range
    ]
    rows = prescription_mme(prescriptions_from_records(records))
    table = registry(rows, AS_OF, load_registry_settings(), load_priority_rules())
    (row,) = table.to_pyarrow().to_pylist()
    assert row["days_covered_90d"] == 35  # 1 May to 4 June
    assert row["max_daily_mme_90d"] == Decimal("90")  # three fills of 2 × 10 mg a day (30 MME) at once


@pytest.mark.parametrize("factor_set", ["cdc-2022", "cdc-2016", "uk-fpm"])
def test_a_dose_that_cannot_be_computed_is_never_shown_as_a_low_dose(factor_set):
    records = [
        fill("METHADONE", "m1", "Methadone Hydrochloride 10 MG Oral Tablet", "2025-06-01", 30, 90),
        fill("OXY_BENZO", "o1", "Oxycodone Hydrochloride 30 MG Oral Tablet", "2025-06-01", 30, 90),
        fill("OXY_BENZO", "b1", "Diazepam 5 MG Oral Tablet", "2025-06-01", 30, 30),
    ]
    rows = prescription_mme(prescriptions_from_records(records), factor_set)
    table = registry(rows, AS_OF, load_registry_settings(), load_priority_rules())
    result = {row["patient_id"]: row for row in table.to_pyarrow().to_pylist()}
    mme = {row["rx_id"]: row for row in rows.to_pyarrow().to_pylist()}
    for patient, rx_id, benzo_rank in (("METHADONE", "m1", 3), ("OXY_BENZO", "o1", 2)):
        row = result[patient]
        if mme[rx_id]["status"] == "ok":
            assert row["dose_complete"] is True
            assert row["dose_gap"] is None
            continue
        # no factor in this set: the dose is a lower bound, never "below threshold", and the gap is named
        assert row["dose_complete"] is False
        assert row["unknown_dose_days_90d"] == 30
        assert row["high_dose_50"] is None
        assert row["high_dose_90"] is None
        assert row["priority"] == benzo_rank
        assert f"no factor for {mme[rx_id]['ingredient']}" in row["dose_gap"]
        assert row["dose_gap"] in row["priority_reason"]
        assert "lower bound" in row["priority_reason"]
        assert "below 50" not in row["priority_reason"]


def test_priority_reasons_name_the_thresholds_in_force(tmp_path):
    """A site with high-dose thresholds 50 and 100 reads 100 in the reason, never a fixed 90."""
    import json
    from importlib import resources

    raw = json.loads((resources.files("taperwise.knowledge") / "data/registry/flags.json").read_text())
    raw["high_dose"]["thresholds"] = [50, 100]
    own = tmp_path / "flags.json"
    own.write_text(json.dumps(raw), encoding="utf-8")
    settings = load_registry_settings(own)
    oxy_30 = "Oxycodone Hydrochloride 30 MG Oral Tablet"
    records = [
        fill("HIGH", "h1", oxy_30, "2025-04-01", 90, 270),
        fill("MID", "m1", OXY_IR_10, "2025-04-01", 90, 360),
    ]
    rows = prescription_mme(prescriptions_from_records(records))
    result = {
        r["patient_id"]: r
        for r in registry(rows, AS_OF, settings, load_priority_rules()).to_pyarrow().to_pylist()
    }
    assert result["HIGH"]["priority_reason"] == "average >= 100 MME/day over the last 90 days"  # 135 MME/day
    assert result["MID"]["priority_reason"] == "long-term therapy at 50 MME/day or more (below 100)"  # 60
    assert "{" not in "".join(r["priority_reason"] for r in result.values())


def _registry_rows(records):
    rows = prescription_mme(prescriptions_from_records(records))
    table = registry(rows, AS_OF, load_registry_settings(), load_priority_rules())
    return {r["patient_id"]: r for r in table.to_pyarrow().to_pylist()}


def test_a_high_dose_restarted_after_a_gap_is_seen_beside_a_low_average():
    """135 MME/day restarted after 75 days without opioids: the 90-day average is low (24), today's dose
    and the lost tolerance are not; the patient ranks with the restarts, not with plain supply."""
    result = _registry_rows([
        fill("RESTART", "r1", OXY_IR_10, "2025-01-01", 90, 360),  # 60 MME/day, 1 January to 31 March
        fill("RESTART", "r2", OXY_ER_30, "2025-06-15", 30, 90),  # 135 MME/day from 15 June
        fill("STEADY", "s1", OXY_IR_10, "2025-04-02", 90, 360),  # 60 MME/day, 2 April to 30 June
    ])  # fmt: skip
    restart = result["RESTART"]
    assert restart["current_daily_mme"] == Decimal("135")
    assert restart["avg_daily_mme_90d"] == Decimal("24")  # 16 days × 135 / 90
    assert restart["restarted_after_gap"] is True
    assert restart["priority"] == 4
    assert restart["priority_reason"].startswith("restarted after 30 days or more without opioids")
    steady = result["STEADY"]
    assert steady["restarted_after_gap"] is False
    assert steady["current_daily_mme"] == Decimal("60")


def test_a_first_start_or_a_break_shorter_than_the_gap_is_not_a_restart():
    result = _registry_rows([
        fill("NEW", "n1", OXY_IR_10, "2025-06-01", 30, 120),  # nothing before it: a new start
        fill("GAP29", "a1", OXY_IR_10, "2025-04-01", 30, 120),  # 1 to 30 April
        fill("GAP29", "a2", OXY_IR_10, "2025-05-30", 30, 120),  # 29 days without (1 to 29 May)
        fill("GAP30", "b1", OXY_IR_10, "2025-04-01", 30, 120),
        fill("GAP30", "b2", OXY_IR_10, "2025-05-31", 31, 124),  # 30 days without: a restart
    ])  # fmt: skip
    assert result["NEW"]["restarted_after_gap"] is False
    assert result["NEW"]["current_daily_mme"] == Decimal("60")
    assert result["GAP29"]["restarted_after_gap"] is False
    assert result["GAP30"]["restarted_after_gap"] is True
    assert result["GAP30"]["current_daily_mme"] == Decimal("60")


FENTANYL_100 = "72 HR Fentanyl 0.1 MG/HR Transdermal System"


def _early_refill_cohort() -> list[dict[str, Any]]:
    return [
        # EARLY: fentanyl 100 µg/h (240 MME/day), the third box collected 5 days early → 480 for 5 days
        fill("EARLY", "e1", FENTANYL_100, "2025-04-02", 30, 10),
        fill("EARLY", "e2", FENTANYL_100, "2025-05-02", 30, 10),
        fill("EARLY", "e3", FENTANYL_100, "2025-05-27", 30, 10),
        # TWO: oxycodone ER + IR taken together (two products of one drug): a real maximum, no overlap label
        fill("TWO", "t1", OXY_ER_30, "2025-04-02", 90, 180),
        fill("TWO", "t2", OXY_IR_10, "2025-05-01", 10, 20),
    ]


def test_a_highest_dose_made_by_an_early_refill_is_labelled_and_carry_forward_removes_it():
    settings, rules = load_registry_settings(), load_priority_rules()
    rows = prescription_mme(prescriptions_from_records(_early_refill_cohort()))
    added = {r["patient_id"]: r for r in registry(rows, AS_OF, settings, rules).to_pyarrow().to_pylist()}
    assert added["EARLY"]["max_daily_mme_90d"] == Decimal("480")
    assert added["EARLY"]["max_includes_overlap_90d"] is True
    assert added["TWO"]["max_daily_mme_90d"] == Decimal("120")  # 90 + 30 on purpose
    assert added["TWO"]["max_includes_overlap_90d"] is False
    carried = registry(rows, AS_OF, settings, rules, early_refills="carry-forward").to_pyarrow().to_pylist()
    by_patient = {r["patient_id"]: r for r in carried}
    assert by_patient["EARLY"]["max_daily_mme_90d"] == Decimal("240")
    assert by_patient["EARLY"]["max_includes_overlap_90d"] is False
    # the same supply, taken in turn: 90 days at 240 from 2 April is the whole window
    assert by_patient["EARLY"]["avg_daily_mme_90d"] == Decimal("240")
    assert by_patient["TWO"] == added["TWO"]


def test_the_registry_command_runs_carry_forward_once_for_registry_and_segments():
    settings, rules = load_registry_settings(), load_priority_rules()
    rows = prescription_mme(prescriptions_from_records(_early_refill_cohort()))
    with run_registry(rows, AS_OF, settings, rules, early_refills="carry-forward") as run:
        table = {r["patient_id"]: r for r in run.table.to_pyarrow().to_pylist()}
        segments = [s for s in run.segments.to_pyarrow().to_pylist() if s["patient_id"] == "EARLY"]
    expected = registry(rows, AS_OF, settings, rules, early_refills="carry-forward").to_pyarrow().to_pylist()
    assert table == {r["patient_id"]: r for r in expected}
    assert [(s["start_date"], s["end_date"], s["daily_mme"], s["overlapping_fills"]) for s in segments] == [
        (dt.date(2025, 4, 2), dt.date(2025, 6, 30), Decimal("240"), 0)  # 90 days of patches in turn
    ]
