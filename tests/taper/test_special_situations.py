"""Situations that get their own plan, not a generic taper plus a warning: suspected opioid use disorder,
pregnancy and suicide risk hold the dose with the pathway; methadone, tramadol and tapentadol carry their
own defaults and notes; abrupt and rapid tapers after long-term use are refused unless supervised."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from taperwise.errors import RequestValidationError
from taperwise.taper import adapt_plan, plan_taper
from tests.taper.builders import METHADONE, MONTHLY_10, morphine_er, oxycodone_ir, request

OXYCODONE_ER = "Oxycodone HCl 80 MG 12 HR Extended Release Oral Tablet"
ABRUPT = {
    "start_date": "2026-12-07",
    "opioid_use_days": 1500,
    "regimen": [{"drug": OXYCODONE_ER, "dose": 80, "times_per_day": 2}],
    "pace": {"reduction": 50, "unit": "percent_of_original", "every_days": 1},
}
SPECIALIST = {
    "by": "Dr A Khan, pain medicine consultant",
    "reason": "inpatient detoxification, agreed with the patient",
}


# Abrupt and rapid tapers --------------------------------------------------------------------------------


def test_an_abrupt_stop_after_long_term_use_is_refused_saying_why() -> None:
    with pytest.raises(RequestValidationError) as caught:
        plan_taper(ABRUPT)  # was: 80 mg -> 0 in 3 days, exit 0
    assert caught.value.field == "pace.every_days"
    assert "rapid taper, refused" in caught.value.problem
    assert "HHS 2019" in caught.value.problem
    assert "FDA" in caught.value.problem
    assert '"setting": "inpatient"' in caught.value.problem


def test_a_rapid_phase_or_a_drugs_own_pace_is_refused_too() -> None:
    phased = {
        **ABRUPT,
        "pace": {
            **MONTHLY_10,
            "until_percent_of_original": 50,
            "then": {"reduction": 10, "unit": "percent_of_original", "every_days": 2},
        },
    }
    with pytest.raises(RequestValidationError) as caught:
        plan_taper(phased)
    assert caught.value.field == "pace.then.every_days"
    own = {**ABRUPT, "pace": None, "regimen": [{**ABRUPT["regimen"][0], "pace": ABRUPT["pace"]}]}
    with pytest.raises(RequestValidationError) as caught:
        plan_taper(own)
    assert caught.value.field == "regimen[0].pace.every_days"


@pytest.mark.parametrize(
    "supervision", [{"setting": "inpatient"}, {"overrides": {"rapid_taper": SPECIALIST}}]
)
def test_a_supervised_rapid_taper_is_planned_and_requires_review(supervision: dict[str, Any]) -> None:
    plan = plan_taper({**ABRUPT, **supervision})
    assert plan.review_required
    assert {"rapid_taper", "rate_beyond_va_tiers"} <= plan.warning_codes()
    if "overrides" in supervision:
        override = next(w for w in plan.warnings if w.code == "clinician_override")
        assert "Dr A Khan" in override.message
        assert "inpatient detoxification" in override.message
        assert override.severity == "requires_review"


def test_short_use_may_step_weekly_or_faster_with_review() -> None:
    plan = plan_taper(request(morphine_er(), opioid_use_days=40, pace={**MONTHLY_10, "every_days": 3}))
    assert "rapid_taper" in plan.warning_codes()


def test_a_step_faster_than_every_va_tier_requires_review() -> None:
    fast = {"reduction": 30, "unit": "percent_of_original", "every_days": 7}
    plan = plan_taper(request(morphine_er(), pace=fast))
    warning = next(w for w in plan.warnings if w.code == "rate_beyond_va_tiers")
    assert warning.severity == "requires_review"


def test_concurrent_changes_flag_the_total_falling_faster_than_one_drug_may() -> None:
    # two drugs, each 40% of its own original every 28 days, changing together: the total falls ~40%
    pace = {"reduction": 40, "unit": "percent_of_original", "every_days": 28}
    plan = plan_taper(request(morphine_er(30), oxycodone_ir(5, 2), pace=pace, concurrent_changes=True))
    combined = next(w for w in plan.warnings if w.code == "combined_rate")
    assert combined.severity == "caution"
    assert "of the baseline total" in combined.message
    alone = plan_taper(request(morphine_er(30), oxycodone_ir(5, 2), pace=MONTHLY_10))
    assert "combined_rate" not in alone.warning_codes()


def test_a_combined_four_week_collapse_to_zero_is_flagged() -> None:
    pace = {"reduction": 100, "unit": "percent_of_original", "every_days": 7}
    plan = plan_taper(
        request(
            morphine_er(15, 1), oxycodone_ir(5, 1), pace=pace, concurrent_changes=True, opioid_use_days=60
        )
    )
    assert plan.steps[-1].daily_mme == 0
    assert "combined_rate" in plan.warning_codes()


# The pace is a ceiling, the end steps included --------------------------------------------------------


def test_rounding_up_never_outpaces_the_agreement() -> None:
    # morphine ER 60 mg BD (US) at an absolute 10 mg/day every 28 days: the 15 mg steps take 42 days
    item = {
        "drug": "12 HR Morphine Sulfate 30 MG Extended Release Oral Tablet",
        "dose": 60,
        "times_per_day": 2,
    }
    plan = plan_taper(
        request(item, market="US", pace={"reduction": 10, "unit": "absolute", "every_days": 28})
    )
    first = plan.steps[0]
    assert (first.achieved_reduction, first.days) == (15, 42)


def test_the_end_steps_follow_the_agreed_pace() -> None:
    # 60 mg BD at 5% of the original a month (6 mg/day per 28 days): 30 -> 15 nightly -> 0, each 15 mg
    # change earning 70 days; the last dose is kept for both the change into it and the stop
    item = {
        "drug": "12 HR Morphine Sulfate 30 MG Extended Release Oral Tablet",
        "dose": 60,
        "times_per_day": 2,
    }
    plan = plan_taper(
        request(item, market="US", pace={"reduction": 5, "unit": "percent_of_original", "every_days": 28})
    )
    tail = [(s.daily_dose["morphine"].amount, s.days) for s in plan.steps[-3:]]
    assert tail == [(30, 70), (15, 140), (0, None)]
    drug = plan.summary["drugs"][0]
    assert drug["achieved_percent_of_original_per_28_days"] <= 5


def test_a_proportionate_pace_slows_the_stop_to_its_own_rate() -> None:
    item = {
        "drug": "12 HR Morphine Sulfate 30 MG Extended Release Oral Tablet",
        "dose": 15,
        "times_per_day": 2,
    }
    pace = {"reduction": 10, "unit": "percent_of_current", "every_days": 28}
    plan = plan_taper(request(item, market="US", pace=pace))
    stop = plan.steps[-1].changes[0]
    assert stop.kind == "stop"
    # 15 mg at 10% of 15 mg per 28 days needs 280 days; the change into it (15 of 30 mg) needs 140
    assert plan.steps[-2].days == 420
    assert stop.achieved_reduction / stop.interval_days <= stop.requested_reduction / 28


def test_the_default_for_long_term_use_slows_once_a_third_remains() -> None:
    plan = plan_taper(request(morphine_er(60, 3, strengths=[15])))
    assert plan.paces[0].rule_id == "P-1"
    assert plan.paces[0].until_percent_of_original == 33
    assert plan.paces[0].then is not None
    assert plan.paces[0].then.reduction == 5
    requested = {c.requested_reduction for s in plan.steps for c in s.changes}
    assert requested == {Decimal(18), Decimal(9)}  # 10% then 5% of 180 mg


# Suspected OUD, pregnancy, suicide risk: a hold with the pathway ----------------------------------------


@pytest.mark.parametrize(
    ("factors", "warning", "override", "pathway"),
    [
        ({"suspected_oud": True}, "suspected_oud", "taper_with_suspected_oud", "buprenorphine or methadone"),
        ({"dsm5_oud_criteria": 3}, "suspected_oud", "taper_with_suspected_oud", "medication treatment"),
        ({"pregnant": True}, "pregnancy", "taper_in_pregnancy", "obstetric and addiction-specialist"),
        ({"phq9_item9": 1}, "suicide_risk", "taper_with_suicide_risk", "refer to mental-health care"),
    ],
)
def test_a_special_situation_holds_the_dose_with_its_pathway(
    factors: dict[str, Any], warning: str, override: str, pathway: str
) -> None:
    plan = plan_taper(request(morphine_er(), pace=MONTHLY_10, patient_factors=factors))
    assert [s.kind for s in plan.steps] == ["hold"]
    assert plan.steps[0].end_date is None
    assert plan.steps[0].administrations == plan.baseline.administrations
    assert pathway in next(w.message for w in plan.warnings if w.code == warning)
    hold = next(w for w in plan.warnings if w.code == "special_situation_hold")
    assert hold.severity == "requires_review"
    assert f"overrides.{override}" in hold.message
    assert plan.summary["goal_reached"] is False
    chosen = plan_taper(
        request(morphine_er(), pace=MONTHLY_10, patient_factors=factors, overrides={override: SPECIALIST})
    )
    assert chosen.steps[-1].daily_mme == 0
    assert "special_situation_hold" not in chosen.warning_codes()
    assert warning in chosen.warning_codes()  # the concern stays on the plan
    assert "Dr A Khan" in next(w.message for w in chosen.warnings if w.code == "clinician_override")


def test_an_override_needs_who_and_why() -> None:
    for bad in ({"by": "Dr A"}, {"reason": "asked"}, {"by": "", "reason": "x"}, "yes", True):
        with pytest.raises(RequestValidationError) as caught:
            plan_taper(request(morphine_er(), overrides={"taper_in_pregnancy": bad}))
        assert caught.value.field.startswith("overrides.taper_in_pregnancy")
    with pytest.raises(RequestValidationError) as caught:
        plan_taper(request(morphine_er(), overrides={"skip_checks": SPECIALIST}))
    assert caught.value.field == "overrides.skip_checks"


def test_a_follow_up_keeps_a_special_situation_held_until_a_specialist_resumes() -> None:
    plan = plan_taper(request(morphine_er(), pace=MONTHLY_10, patient_factors={"pregnant": True}))
    routine = adapt_plan(plan, {"date": "2025-02-03", "preference": "continue"})
    assert [s.kind for s in routine.steps] == ["hold"]
    assert routine.history[-1].rule == "D-4"
    review = {
        "by": "Dr D Patel, obstetric and addiction services",
        "date": "2025-02-28",
        "decision": "resume",
        "note": "agreed a slow taper with close fetal monitoring",
    }
    resumed = adapt_plan(routine, {"date": "2025-03-03", "specialist_review": review})
    assert resumed.steps[0].kind == "reduction"
    recorded = resumed.request.overrides["taper_in_pregnancy"]
    assert recorded.by == review["by"]
    assert "2025-02-28" in recorded.reason
    later = adapt_plan(resumed, {"date": "2025-04-03"})
    assert later.steps[0].kind != "hold" or later.steps[0].days is not None


# Methadone, tramadol, tapentadol ----------------------------------------------------------------------


def test_methadone_has_its_own_slower_default_and_a_later_review() -> None:
    item = {"drug": METHADONE, "dose": 20, "times_per_day": 2, "strengths": [5, 10]}
    plan = plan_taper(request(item))
    assert plan.paces[0].rule_id == "P-3"
    assert plan.steps[0].requested_reduction == 2  # 5% of 40 mg, half the usual 10%
    assert plan.review_required
    last_change = next(s for s in reversed(plan.steps) if s.changes)
    assert any(v.date == last_change.start_date + timedelta(days=14) for v in plan.follow_ups)
    morphine = plan_taper(request(morphine_er(15, 1)))
    final = next(s for s in reversed(morphine.steps) if s.changes)
    assert any(v.date == final.start_date + timedelta(days=7) for v in morphine.follow_ups)


@pytest.mark.parametrize(
    ("drug", "code", "words"),
    [
        (
            "Tramadol Hydrochloride 50 MG Oral Tablet",
            "tramadol",
            ["serotonin syndrome", "seizure", "hallucinations"],
        ),
        ("Tapentadol 50 MG Oral Tablet", "tapentadol", ["serotonin syndrome", "seizure"]),
    ],
)
def test_tramadol_and_tapentadol_carry_their_notes(drug: str, code: str, words: list[str]) -> None:
    plan = plan_taper(
        request({"drug": drug, "dose": 50, "times_per_day": 2, "strengths": [50]}, pace=MONTHLY_10)
    )
    note = next(w for w in plan.warnings if w.code == code)
    assert note.severity == "caution"
    assert all(word in note.message for word in words)


# What the pharmacist's reading added: large single steps, long last doses, long plans, held supply -------


def test_a_single_step_of_more_than_a_quarter_of_the_original_requires_review() -> None:
    mst = {"drug": "MST Continus 60mg tablets", "dose": 60, "times_per_day": 2}
    at_once = {"reduction": 100, "unit": "percent_of_original", "every_days": 28}
    plan = plan_taper(request(mst, market="UK", opioid_use_days=1200, pace=at_once))
    large = next(w for w in plan.warnings if w.code == "large_step")
    assert large.severity == "requires_review"
    assert 1 in large.steps
    assert "lower strength or an immediate-release or liquid form" in large.message
    gentle = plan_taper(request(mst, market="UK", pace=MONTHLY_10))
    assert "large_step" not in gentle.warning_codes()


def test_the_last_unit_of_a_long_acting_product_comes_with_options() -> None:
    plan = plan_taper(request(morphine_er(15, 1), pace=MONTHLY_10))
    last = next(w for w in plan.warnings if w.code == "last_unit_step")
    assert last.severity == "caution"
    assert "15 mg a day" in last.message
    assert "lower-strength or immediate-release step" in last.message


def test_a_last_dose_kept_for_months_offers_a_faster_last_phase() -> None:
    item = {
        "drug": "12 HR Morphine Sulfate 30 MG Extended Release Oral Tablet",
        "dose": 15,
        "times_per_day": 2,
    }
    plan = plan_taper(
        request(item, market="US", pace={"reduction": 10, "unit": "percent_of_current", "every_days": 28})
    )
    warning = next(w for w in plan.warnings if w.code == "long_last_dose")
    assert "kept 420 days" in warning.message
    assert "faster last phase" in warning.message


def test_a_plan_longer_than_two_years_or_than_short_use_gets_a_caution() -> None:
    slow = plan_taper(request(morphine_er(), pace={"reduction": 6, "unit": "absolute", "every_days": 28}))
    assert "long_plan" in slow.warning_codes()
    short = plan_taper(request(morphine_er(15, 2), opioid_use_days=30))
    warning = next(w for w in short.warnings if w.code == "long_plan")
    assert "longer than the 30 days of opioid use so far" in warning.message


def test_a_held_dose_is_supplied_a_week_at_a_time() -> None:
    plan = plan_taper(request(morphine_er(), pace=MONTHLY_10, patient_factors={"phq9_item9": 2}))
    assert [p.days for p in plan.steps[0].instalments] == [7, 7, 7, 7]
    assert "at most 7 days at a time" in next(
        w.message for w in plan.warnings if w.code == "special_situation_hold"
    )


def test_a_target_dose_is_reviewed_again_a_month_after_it_is_reached() -> None:
    plan = plan_taper(request(morphine_er(), pace=MONTHLY_10, goal={"type": "target_daily_mme", "value": 90}))
    reached = plan.steps[-1].start_date
    assert any(v.date == reached + timedelta(days=28) for v in plan.follow_ups)


def test_a_patch_changes_dose_on_a_patch_change_day() -> None:
    plan = plan_taper(
        request({"drug": "72 HR Fentanyl 0.025 MG/HR Transdermal System", "dose": 100}, pace=MONTHLY_10)
    )
    assert all((s.start_date - plan.baseline.start_date).days % 3 == 0 for s in plan.steps)


def test_concurrent_stops_of_two_drugs_on_one_day_are_flagged_with_their_step() -> None:
    pace = {"reduction": 40, "unit": "percent_of_original", "every_days": 28}
    plan = plan_taper(request(morphine_er(30), oxycodone_ir(5, 2), pace=pace, concurrent_changes=True))
    combined = next(w for w in plan.warnings if w.code == "combined_rate")
    together = [s.number for s in plan.steps if len(s.changes) > 1]
    assert set(together) <= set(combined.steps)
