"""Adaptation after a follow-up: one test per decision-table row, then the re-computed remaining plan."""

from __future__ import annotations

import itertools
import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from taperwise.errors import RequestValidationError
from taperwise.taper import TaperPlan, adapt_plan, decide, plan_taper
from taperwise.taper.adapt import FollowUp
from taperwise.taper.rules import load_rules
from tests.taper.builders import FENTANYL_25, MONTHLY_10, MORPHINE_ER, PATCH_STRENGTHS, morphine_er, request

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
    assert len(tested) == len(rows) == 15
    assert sorted(int(name.split("_")[2][1:]) for name in tested) == list(range(1, 16))


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


def test_row_d7_a_second_pause_slows_the_taper(plan: TaperPlan) -> None:
    paused = adapt_plan(plan, _visit(preference="pause"))
    again = FollowUp.from_dict({"date": "2025-03-03", "preference": "pause"})
    decision = decide(paused, again)
    assert (decision.rule, decision.decision) == ("D-7", "slow")
    slowed = adapt_plan(paused, again)
    assert slowed.paces[0].every_days == 56
    assert [s.days for s in slowed.steps[:3]] == [56, 56, 56]


def test_row_d9_cows_13_to_24_pauses(plan: TaperPlan) -> None:
    assert decide(plan, _visit(cows=13)).rule == "D-9"
    assert decide(plan, _visit(cows=24)).rule == "D-9"
    assert decide(plan, _visit(cows=12)).rule == "D-15"
    assert "withdrawal_severe" not in adapt_plan(plan, _visit(cows=24)).warning_codes()


def test_row_d10_marked_sows_pauses(plan: TaperPlan) -> None:
    assert decide(plan, _visit(sows=17)).rule == "D-10"


def test_row_d11_peg_worse_by_30_percent_pauses(plan: TaperPlan) -> None:
    assert decide(plan, _visit(peg=6.5)).rule == "D-11"  # 5 -> 6.5 is 30% worse
    assert decide(plan, _visit(peg=6)).rule == "D-15"


def test_row_d12_the_patient_asks_to_pause(plan: TaperPlan) -> None:
    decision = decide(plan, _visit(preference="pause"))
    assert (decision.rule, decision.decision) == ("D-12", "pause")
    adapted = adapt_plan(plan, _visit(preference="pause"))
    assert adapted.steps[0].kind == "hold"
    assert adapted.steps[0].days == 28
    assert adapted.steps[0].administrations == plan.steps[0].administrations  # the dose taken is held


def test_row_d13_the_patient_asks_to_slow_down(plan: TaperPlan) -> None:
    assert decide(plan, _visit(preference="slow")).decision == "slow"


def test_row_d15_otherwise_continue(plan: TaperPlan) -> None:
    adapted = adapt_plan(plan, _visit(cows=3, peg=5))
    assert adapted.history[-1].decision == "continue"
    assert adapted.daily_totals("morphine") == [Decimal(v) for v in (225, 180, 135, 90, 45, 30, 15, 0)]
    assert adapted.steps[0].start_date == date(2025, 2, 3)


def test_remaining_plan_is_recomputed_from_the_doses_actually_taken(plan: TaperPlan) -> None:
    adapted = adapt_plan(plan, _visit(doses_taken=[{"regimen_index": 0, "doses": [60, 60, 75]}]))
    assert adapted.baseline.daily_dose["morphine"].amount == 195
    totals = adapted.daily_totals("morphine")
    assert totals[1] == 195  # held: the patient's own 30 mg/day reduction earns its 28 days first
    assert totals[2] == 150  # then the next 45 mg/day step, from what was taken
    assert all(a >= b for a, b in itertools.pairwise(totals))


def test_doses_taken_above_the_plan_are_never_planned_higher(plan: TaperPlan) -> None:
    adapted = adapt_plan(plan, _visit(doses_taken=[{"regimen_index": 0, "doses": [90, 90, 90]}]))
    assert adapted.baseline.daily_dose["morphine"].amount == 225
    assert "taken_above_plan" in adapted.warning_codes()


def test_history_keeps_decision_reason_and_superseded_steps(plan: TaperPlan) -> None:
    adapted = adapt_plan(plan, _visit(preference="pause"))
    entry = adapted.history[-1]
    assert (entry.date, entry.decision, entry.rule) == (date(2025, 2, 3), "pause", "D-12")
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


# Referral holds are sticky --------------------------------------------------------------------------

REVIEW = {"by": "Dr B Osei, liaison psychiatrist", "date": "2025-03-01", "decision": "resume"}


def _referred(plan: TaperPlan) -> TaperPlan:
    return adapt_plan(plan, _visit(phq9_item9=1))


def test_row_d4_a_routine_follow_up_keeps_an_open_referral_held(plan: TaperPlan) -> None:
    referred = _referred(plan)
    routine = {"date": "2025-03-03", "phq9_item9": 0, "cows": 2, "preference": "continue"}
    decision = decide(referred, FollowUp.from_dict(routine))
    assert (decision.rule, decision.decision) == ("D-4", "refer")
    held = adapt_plan(referred, routine)
    assert [s.kind for s in held.steps] == ["hold"]
    assert held.steps[0].administrations == referred.steps[0].administrations
    warning = next(w for w in held.warnings if w.code == "referred")
    assert warning.severity == "requires_review"
    assert "2025-02-03 (rule D-1)" in warning.message  # names the referral that opened the hold
    again = adapt_plan(held, {"date": "2025-04-03", "preference": "continue"})
    assert [s.kind for s in again.steps] == ["hold"]
    assert "referred" in again.warning_codes()


def test_row_d3_the_specialist_may_keep_the_hold(plan: TaperPlan) -> None:
    visit = {"date": "2025-03-03", "specialist_review": {**REVIEW, "decision": "hold"}}
    decision = decide(_referred(plan), FollowUp.from_dict(visit))
    assert (decision.rule, decision.decision) == ("D-3", "refer")
    held = adapt_plan(_referred(plan), visit)
    assert [s.kind for s in held.steps] == ["hold"]
    assert {"referred", "specialist_review"} <= held.warning_codes()


def test_row_d14_a_specialist_review_to_resume_ends_the_hold(plan: TaperPlan) -> None:
    referred = _referred(plan)
    visit = {"date": "2025-03-03", "specialist_review": REVIEW}
    decision = decide(referred, FollowUp.from_dict(visit))
    assert (decision.rule, decision.decision) == ("D-14", "continue")
    resumed = adapt_plan(referred, visit)
    assert resumed.steps[0].kind == "reduction"
    assert "referred" not in resumed.warning_codes()
    review = next(w for w in resumed.warnings if w.code == "specialist_review")
    assert "Dr B Osei" in review.message
    assert "2025-03-01" in review.message
    assert resumed.history[-1].follow_up["specialist_review"]["by"] == REVIEW["by"]


def test_row_d5_a_specialist_review_may_resume_at_half_the_rate(plan: TaperPlan) -> None:
    visit = {"date": "2025-03-03", "specialist_review": {**REVIEW, "decision": "slow"}}
    decision = decide(_referred(plan), FollowUp.from_dict(visit))
    assert (decision.rule, decision.decision) == ("D-5", "slow")
    assert adapt_plan(_referred(plan), visit).paces[0].every_days == 56


def test_a_new_suicide_risk_at_the_review_visit_refers_again(plan: TaperPlan) -> None:
    visit = {"date": "2025-03-03", "phq9_item9": 2, "specialist_review": REVIEW}
    assert decide(_referred(plan), FollowUp.from_dict(visit)).rule == "D-1"


def test_no_decision_row_lifts_an_open_referral() -> None:
    """Every combination of facts a routine visit can bring: with a referral open and no review, refer."""
    rules = load_rules()
    table = rules.decisions
    from taperwise.taper.decisions import holds as _holds

    for cows, sows, worse, pref, back in itertools.product(
        (None, 0, 13, 30),
        (None, 0, 20),
        (None, 0, 40),
        ("continue", "pause", "slow"),
        (None, "return_to_previous_dose"),
    ):
        facts = {"cows": cows, "sows": sows, "peg": None, "peg_worse_percent": worse, "phq9_item9": 0,
                 "oud_signs": False, "preference": pref, "previous_decision": "refer", "referral_open": True,
                 "specialist_decision": None, "clinician_choice": back}  # fmt: skip
        row = next(r for r in table["rows"] if _holds(r["when"], facts, table["conditions"]))
        assert row["decision"] == "refer", (row["id"], facts)


def test_a_specialist_review_must_name_who_when_and_what(plan: TaperPlan) -> None:
    referred = _referred(plan)
    for bad, field in (
        ({"date": "2025-03-01", "decision": "resume"}, "follow_up.specialist_review.by"),
        ({**REVIEW, "decision": "carry on"}, "follow_up.specialist_review.decision"),
        ({**REVIEW, "date": "2025-04-01"}, "follow_up.specialist_review.date"),
        ({**REVIEW, "by": "  "}, "follow_up.specialist_review.by"),
    ):
        with pytest.raises(RequestValidationError) as caught:
            adapt_plan(referred, {"date": "2025-03-03", "specialist_review": bad})
        assert caught.value.field == field


# Timing: pauses count from the end of the step, severe withdrawal, stepping back ------------------------


def test_a_pause_counts_from_the_end_of_the_step_in_force() -> None:
    # 5 mg/day every 28 days from 15 mg steps: step 1 lasts 84 days; a pause on day 14 adds 28 days
    plan = plan_taper(request(morphine_er(), pace={"reduction": 5, "unit": "absolute", "every_days": 28}))
    assert plan.steps[0].days == 84
    paused = adapt_plan(plan, {"date": "2025-01-20", "preference": "pause"})
    assert paused.steps[0].kind == "hold"
    assert paused.steps[1].start_date == plan.steps[1].start_date + timedelta(days=28)
    assert "until 2025-04-28" in next(w.message for w in paused.warnings if w.code == "taper_paused")


def test_slowing_never_brings_the_next_change_forward() -> None:
    plan = plan_taper(request(morphine_er(), pace={"reduction": 5, "unit": "absolute", "every_days": 28}))
    slowed = adapt_plan(plan, {"date": "2025-01-20", "preference": "slow"})
    assert slowed.steps[1].start_date >= plan.steps[1].start_date


def test_continuing_keeps_the_planned_date_of_the_next_change() -> None:
    plan = plan_taper(request(morphine_er(), pace={"reduction": 5, "unit": "absolute", "every_days": 28}))
    continued = adapt_plan(
        plan, {"date": "2025-01-20", "doses_taken": [{"regimen_index": 0, "doses": [75, 90, 90]}]}
    )
    assert continued.steps[1].start_date == plan.steps[1].start_date


def test_row_d8_moderately_severe_withdrawal_pauses_and_requires_review(plan: TaperPlan) -> None:
    decision = decide(plan, _visit(cows=25))
    assert (decision.rule, decision.decision) == ("D-8", "pause")
    adapted = adapt_plan(plan, _visit(cows=25))
    severe = next(w for w in adapted.warnings if w.code == "withdrawal_severe")
    assert severe.severity == "requires_review"
    assert adapted.review_required


def test_severe_withdrawal_is_flagged_even_while_a_referral_holds(plan: TaperPlan) -> None:
    held = adapt_plan(_referred(plan), {"date": "2025-03-03", "cows": 30})
    assert {"withdrawal_severe", "referred"} <= held.warning_codes()


def test_row_d6_the_clinician_may_return_to_the_previous_dose(plan: TaperPlan) -> None:
    second = adapt_plan(plan, _visit())  # continue: 60 mg Q8h from 2025-02-03
    back = {"by": "Dr C Reyes, GP", "reason": "pain much worse and poor sleep since the last step"}
    visit = {"date": "2025-02-17", "return_to_previous_dose": back}
    decision = decide(second, FollowUp.from_dict(visit))
    assert (decision.rule, decision.decision) == ("D-6", "step_back")
    stepped = adapt_plan(second, visit)
    assert stepped.baseline.daily_dose["morphine"].amount == 225  # the previous step: 75 mg Q8h
    assert stepped.steps[0].kind == "hold"
    assert stepped.steps[0].days == 28
    assert stepped.paces[0].every_days == 56
    warning = next(w for w in stepped.warnings if w.code == "returned_to_previous_dose")
    assert "Dr C Reyes" in warning.message
    assert "pain much worse" in warning.message
    assert warning.severity == "caution"


def test_a_patient_preference_never_returns_to_a_higher_dose(plan: TaperPlan) -> None:
    second = adapt_plan(plan, _visit())
    adapted = adapt_plan(second, {"date": "2025-02-17", "preference": "pause"})
    assert adapted.baseline.daily_dose["morphine"].amount == 180


def test_severe_withdrawal_twice_slows_the_taper_and_suggests_stepping_back(plan: TaperPlan) -> None:
    paused = adapt_plan(plan, _visit(cows=28))
    again = adapt_plan(paused, {"date": "2025-03-03", "cows": 26})
    assert again.history[-1].decision == "slow"
    severe = next(w for w in again.warnings if w.code == "withdrawal_severe")
    assert "return_to_previous_dose" in severe.message


def test_a_patient_who_stopped_on_their_own_requires_review(plan: TaperPlan) -> None:
    stopped = adapt_plan(plan, _visit(doses_taken=[{"regimen_index": 0, "doses": []}], cows=9))
    warning = next(w for w in stopped.warnings if w.code == "stopped_abruptly")
    assert warning.severity == "requires_review"
    assert "tolerance is lost" in warning.message
    assert "naloxone" in warning.message
    assert stopped.review_required


def test_a_reduction_the_patient_made_is_paced_like_any_other() -> None:
    # 10% of 300 mg/day every 28 days; the patient went from the planned 270 to 240 before the visit
    plan = plan_taper(request(morphine_er(100, 3, [15, 30, 60, 100]), pace=MONTHLY_10))
    visit = {"date": "2025-01-20", "doses_taken": [{"regimen_index": 0, "doses": [75, 75, 75]}]}
    adapted = adapt_plan(plan, visit)
    below = next(w for w in adapted.warnings if w.code == "taken_below_plan")
    assert "unused supply" in below.message
    first_change = next(s for s in adapted.steps if s.changes)
    assert (first_change.start_date - date(2025, 1, 20)).days >= 28  # the self-reduction earned its time


def test_a_stop_after_a_routine_visit_still_pays_for_the_change_into_the_last_dose() -> None:
    """Re-planning never makes the end faster: the patch went 25 -> 12 on day 0 (52% of it); its stop
    needs that change's time and its own (about 560 days at 5% a month), not only its own."""
    raw = request(
        {"drug": MORPHINE_ER, "strengths": [15, 30, 60, 100], "doses": [15]},
        {"drug": FENTANYL_25, "dose": 25, "strengths": PATCH_STRENGTHS},
        opioid_use_days=0, goal={"type": "target_daily_mme", "value": 29},
        pace={"reduction": 5, "unit": "percent_of_original", "every_days": 28},
        concurrent_changes=True, setting="inpatient",
    )  # fmt: skip
    plan = plan_taper(raw)
    planned = next(s.start_date for s in plan.steps[1:] if s.changes)
    adapted = adapt_plan(plan, {"date": "2025-01-07", "preference": "continue"})
    assert next(s.start_date for s in adapted.steps if s.changes) >= planned
