"""Adaptation after a follow-up: one test per decision-table row, then the re-computed remaining plan."""

from __future__ import annotations

import itertools
import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from taperwise.errors import RequestValidationError
from taperwise.taper import TaperPlan, adapt_plan, decide, plan_taper
from taperwise.taper.adapt import FollowUp
from taperwise.taper.rules import load_rules
from tests.taper.builders import morphine_er, request

SECOND_STEP = "2025-02-03"  # example 1: 75 mg Q8h from 2025-01-06, 60 mg Q8h planned from 2025-02-03


@pytest.fixture
def plan(va_example_1: dict[str, Any]) -> TaperPlan:
    raw = dict(va_example_1)
    raw["patient_factors"] = {"peg": 5}
    return plan_taper(raw)


def _visit(**fields: Any) -> FollowUp:
    return FollowUp.from_dict({"date": SECOND_STEP, **fields})


def test_every_decision_row_has_a_test() -> None:
    rows = [row["id"] for row in load_rules().decisions["rows"]]
    tested = [name for name in globals() if name.startswith("test_row_")]
    assert len(tested) == len(rows) == 9


def test_row_d1_phq9_item9_above_zero_refers(plan: TaperPlan) -> None:
    assert (decide(plan, _visit(phq9_item9=1, preference="slow")).rule) == "D-1"
    adapted = adapt_plan(plan, _visit(phq9_item9=1))
    assert [s.kind for s in adapted.steps] == ["hold"]
    assert adapted.steps[0].end_date is None
    assert "referred" in adapted.warning_codes()
    assert adapted.review_required


def test_row_d2_oud_signs_refer_to_medication_treatment(plan: TaperPlan) -> None:
    decision = decide(plan, _visit(oud_signs=True, cows=20))
    assert (decision.rule, decision.decision) == ("D-2", "refer")
    assert "medication treatment" in decision.reason


def test_row_d3_a_second_pause_slows_the_taper(plan: TaperPlan) -> None:
    paused = adapt_plan(plan, _visit(preference="pause"))
    again = FollowUp.from_dict({"date": "2025-03-03", "preference": "pause"})
    decision = decide(paused, again)
    assert (decision.rule, decision.decision) == ("D-3", "slow")
    slowed = adapt_plan(paused, again)
    assert slowed.paces[0].every_days == 56
    assert [s.days for s in slowed.steps[:3]] == [56, 56, 56]


def test_row_d4_cows_13_or_more_pauses(plan: TaperPlan) -> None:
    assert decide(plan, _visit(cows=13)).rule == "D-4"
    assert decide(plan, _visit(cows=12)).rule == "D-9"


def test_row_d5_marked_sows_pauses(plan: TaperPlan) -> None:
    assert decide(plan, _visit(sows=17)).rule == "D-5"


def test_row_d6_peg_worse_by_30_percent_pauses(plan: TaperPlan) -> None:
    assert decide(plan, _visit(peg=6.5)).rule == "D-6"  # 5 -> 6.5 is 30% worse
    assert decide(plan, _visit(peg=6)).rule == "D-9"


def test_row_d7_the_patient_asks_to_pause(plan: TaperPlan) -> None:
    decision = decide(plan, _visit(preference="pause"))
    assert (decision.rule, decision.decision) == ("D-7", "pause")
    adapted = adapt_plan(plan, _visit(preference="pause"))
    assert adapted.steps[0].kind == "hold"
    assert adapted.steps[0].days == 28
    assert adapted.steps[0].administrations == plan.steps[0].administrations  # the dose taken is held


def test_row_d8_the_patient_asks_to_slow_down(plan: TaperPlan) -> None:
    assert decide(plan, _visit(preference="slow")).decision == "slow"


def test_row_d9_otherwise_continue(plan: TaperPlan) -> None:
    adapted = adapt_plan(plan, _visit(cows=3, peg=5))
    assert adapted.history[-1].decision == "continue"
    assert adapted.daily_totals("morphine") == [Decimal(v) for v in (225, 180, 135, 90, 45, 30, 15, 0)]
    assert adapted.steps[0].start_date == date(2025, 2, 3)


def test_remaining_plan_is_recomputed_from_the_doses_actually_taken(plan: TaperPlan) -> None:
    adapted = adapt_plan(plan, _visit(doses_taken=[{"regimen_index": 0, "doses": [60, 60, 75]}]))
    assert adapted.baseline.daily_dose["morphine"].amount == 195
    totals = adapted.daily_totals("morphine")
    assert totals[1] == 150  # the next 45 mg/day step, from what was taken
    assert all(a >= b for a, b in itertools.pairwise(totals))


def test_doses_taken_above_the_plan_are_never_planned_higher(plan: TaperPlan) -> None:
    adapted = adapt_plan(plan, _visit(doses_taken=[{"regimen_index": 0, "doses": [90, 90, 90]}]))
    assert adapted.baseline.daily_dose["morphine"].amount == 225
    assert "taken_above_plan" in adapted.warning_codes()


def test_history_keeps_decision_reason_and_superseded_steps(plan: TaperPlan) -> None:
    adapted = adapt_plan(plan, _visit(preference="pause"))
    entry = adapted.history[-1]
    assert (entry.date, entry.decision, entry.rule) == (date(2025, 2, 3), "pause", "D-7")
    assert entry.reason
    assert entry.follow_up["preference"] == "pause"
    assert [s["start_date"] for s in entry.superseded_steps] == ["2025-01-06"]
    again = TaperPlan.from_dict(json.loads(adapted.to_json()))
    assert again.history == adapted.history


def test_a_follow_up_with_a_bad_field_is_refused(plan: TaperPlan) -> None:
    with pytest.raises(RequestValidationError) as caught:
        adapt_plan(plan, {"date": SECOND_STEP, "cows": 60})
    assert caught.value.field == "follow_up.cows"
    with pytest.raises(RequestValidationError) as caught:
        adapt_plan(plan, {"date": SECOND_STEP, "doses_taken": [{"regimen_index": 3, "doses": [15]}]})
    assert caught.value.field == "follow_up.doses_taken"


def test_adapting_a_short_plan_keeps_original_percentages() -> None:
    plan = plan_taper(
        request(morphine_er(), pace={"reduction": 10, "unit": "percent_of_original", "every_days": 28})
    )
    adapted = adapt_plan(
        plan, {"date": "2025-02-03", "doses_taken": [{"regimen_index": 0, "doses": [60, 60, 60]}]}
    )
    assert adapted.steps[1].requested_reduction == Decimal(27)
