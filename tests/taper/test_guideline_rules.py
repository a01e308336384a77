"""Rules of issue 4 and clinical-rules §4 that had no direct guard: one behaviour per test.

MME never converts one opioid into another; a target goal is where the plan ends; the summary states the
rate actually achieved; the reduction order for four administrations a day; proportionate and two-phase
paces; naloxone reasons and withdrawal support on every plan.
"""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from taperwise.taper import plan_taper
from tests.taper.builders import MONTHLY_10, fentanyl, morphine_er, oxycodone_ir, request

HYDROMORPHONE = {"drug": "Hydromorphone Hydrochloride 2 MG Oral Tablet", "dose": 4, "times_per_day": 3,
                 "strengths": [2, 4]}  # fmt: skip


def test_mme_factors_never_change_a_dose_of_a_multi_opioid_plan() -> None:
    # Hydromorphone is 5 MME/mg in cdc-2022 and 4 in cdc-2016: if MME converted between drugs, the
    # schedule would change with the factor set. Only daily_mme may differ.
    regimen = (morphine_er(30), HYDROMORPHONE, fentanyl(25, strengths=[12, 25]))
    plans = [plan_taper(request(*regimen, pace=MONTHLY_10, factor_set=s)) for s in ("cdc-2022", "cdc-2016")]
    doses = [[[(a.regimen_index, a.time, a.dose) for a in s.administrations] for s in p.steps] for p in plans]
    assert doses[0] == doses[1]
    assert [s.daily_mme for s in plans[0].steps] != [s.daily_mme for s in plans[1].steps]


def test_each_drugs_requested_reduction_comes_from_its_own_dose_never_from_mme() -> None:
    plan = plan_taper(request(morphine_er(30), HYDROMORPHONE, pace=MONTHLY_10))
    originals = {0: Decimal(90), 1: Decimal(12)}
    for step in plan.steps:
        for change in step.changes:
            if change.kind == "reduction":
                assert change.requested_reduction == originals[change.regimen_index] / 10
    unchanged = [s for s in plan.steps if all(c.regimen_index == 0 for c in s.changes)]
    assert all(s.daily_dose["hydromorphone"].amount == 12 for s in unchanged)


@pytest.mark.parametrize("target", [30, 75, 100, 150])
def test_a_target_goal_is_where_the_plan_ends_and_is_held(target: int) -> None:
    plan = plan_taper(request(morphine_er(), fentanyl(25), pace=MONTHLY_10,
                              goal={"type": "target_daily_mme", "value": target}))  # fmt: skip
    final, before = plan.steps[-1], plan.steps[-2]
    assert final.daily_mme <= target < before.daily_mme
    assert final.end_date is None
    assert final.administrations
    assert plan.summary["goal_reached"] is True
    assert Decimal(str(plan.summary["final_daily_mme"])) == final.daily_mme


def test_the_summary_states_the_rate_actually_achieved(va_example_1: dict[str, object]) -> None:
    drug = plan_taper(va_example_1).summary["drugs"][0]
    assert drug["requested_percent_of_original_per_28_days"] == 16.7  # 45 of 270 mg every 28 days
    # 270 mg removed by 8 changes, the last (the stop) 7 x 28 = 196 days after the first
    assert drug["achieved_percent_of_original_per_28_days"] == 14.3
    assert drug["fastest_step_percent_of_original_per_28_days"] == 16.7
    assert drug["changes"] == 8


def test_lengthened_intervals_keep_the_reductions_at_or_below_the_agreed_rate() -> None:
    plan = plan_taper(request(morphine_er(), pace={"reduction": 5, "unit": "absolute", "every_days": 28}))
    changes = [c for s in plan.steps for c in s.changes]
    assert {c.kind for c in changes} == {"reduction", "interval_extension", "stop"}
    # every change, the end steps included, at or below 5 mg/day per 28 days
    assert all(c.achieved_reduction / c.interval_days <= Decimal(5) / 28 for c in changes)
    drug = plan.summary["drugs"][0]
    assert (
        drug["achieved_percent_of_original_per_28_days"] <= drug["requested_percent_of_original_per_28_days"]
    )


def test_four_times_a_day_reduces_midday_then_afternoon_then_morning_and_bedtime_last() -> None:
    oxy = {**oxycodone_ir(10, 4), "strengths": [5, 10]}
    plan = plan_taper(request(oxy, pace={"reduction": 5, "unit": "absolute", "every_days": 28}))
    lowered = []
    previous = {a.time: a.dose for a in plan.baseline.administrations}
    for step in plan.steps[:4]:
        now = {a.time: a.dose for a in step.administrations}
        lowered += [time for time in now if now[time] < previous[time]]
        previous = now
    assert lowered == ["midday", "afternoon", "morning", "bedtime"]


def test_a_proportionate_pace_takes_a_share_of_the_current_dose() -> None:
    proportionate = {"reduction": 25, "unit": "percent_of_current", "every_days": 28}
    plan = plan_taper(request(morphine_er(60, 3, strengths=[15]), pace=proportionate))
    requested = [s.requested_reduction for s in plan.steps if s.kind == "reduction"]
    assert requested[0] == Decimal(45)  # 25% of 180 mg
    assert all(a > b for a, b in itertools.pairwise(requested))


def test_the_short_use_default_switches_to_the_current_dose_below_30_percent() -> None:
    plan = plan_taper(request(morphine_er(60, 3, strengths=[15]), opioid_use_days=40))
    for step, before in zip(plan.steps, [plan.baseline, *plan.steps], strict=False):
        if step.kind != "reduction" or step.requested_reduction is None:
            continue
        current = before.daily_dose["morphine"].amount
        expected = Decimal(18) if current * 100 > 180 * 30 else current / 10
        assert step.requested_reduction == expected
        assert step.interval_days is not None
        assert step.interval_days >= 7


@pytest.mark.parametrize(
    ("factor", "reason"),
    [("benzodiazepine", "benzodiazepine"), ("prior_overdose", "previous overdose"),
     ("substance_use_disorder", "substance use disorder"), ("sleep_apnoea", "sleep apnoea")],
)  # fmt: skip
def test_naloxone_names_every_reason_that_applies(factor: str, reason: str) -> None:
    plan = plan_taper(request(morphine_er(15, 1), patient_factors={factor: True}))
    message = next(w.message for w in plan.warnings if w.code == "naloxone")
    assert reason in message
    assert "during and after any taper" in message
    assert "MME/day" not in message  # 15 MME/day is below 50


def test_every_plan_offers_withdrawal_support_that_is_never_an_opioid_or_benzodiazepine() -> None:
    plan = plan_taper(request(morphine_er(15, 1)))
    support = next(w for w in plan.warnings if w.code == "withdrawal_support")
    assert "clonidine" in support.message
    assert "Never treat withdrawal with an opioid or a benzodiazepine" in support.message
