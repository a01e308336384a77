"""The rules of clinical-rules §4, one behaviour per test (the hazard log points at these)."""

from __future__ import annotations

import itertools
import json
import math
from decimal import Decimal

from taperwise.taper import TaperPlan, plan_taper
from tests.taper.builders import (
    FENTANYL_25,
    METHADONE,
    OXYCODONE_IR,
    PATCH_STRENGTHS,
    fentanyl,
    morphine_er,
    request,
)

MONTHLY_10 = {"reduction": 10, "unit": "percent_of_original", "every_days": 28}


def _changed_drugs(plan: TaperPlan) -> list[set[int]]:
    """For each step, which drugs' doses differ from the step before."""
    out = []
    previous = plan.baseline
    for step in plan.steps:
        before = {(a.regimen_index, a.time, a.dose) for a in previous.administrations}
        after = {(a.regimen_index, a.time, a.dose) for a in step.administrations}
        out.append({index for index, _, _ in before ^ after})
        previous = step
    return out


def test_patch_taper_uses_real_patch_strengths_and_ends_with_a_caution() -> None:
    plan = plan_taper(request(fentanyl(100), pace=MONTHLY_10))
    doses = [step.daily_dose["fentanyl"].amount for step in plan.steps]
    assert doses == [Decimal(v) for v in ("87.5", "75", "62.5", "50", "37.5", "25", "12", "0")]
    for step in plan.steps:
        for admin in step.administrations:
            assert all(float(u.strength) in PATCH_STRENGTHS for u in admin.units)
    last = next(w for w in plan.warnings if w.code == "patch_last_step")
    assert last.severity == "caution"
    assert last.steps == (len(plan.steps),)
    assert "low-dose oral step" in last.message
    assert all(s.kind != "interval_extension" for s in plan.steps)


def test_patch_doses_may_combine_two_strengths_with_the_fewest_patches() -> None:
    plan = plan_taper(request(fentanyl(100, strengths=[12, 25, 50, 100]), pace=MONTHLY_10))
    first = plan.steps[0].administrations[0]
    assert first.dose == Decimal(87)  # 50 + 25 + 12 would be three strengths at once (S-2)
    assert [(int(u.strength), u.count) for u in first.units] == [(25, 3), (12, 1)]
    assert [(int(u.strength), u.count) for u in plan.steps[1].administrations[0].units] == [(50, 1), (25, 1)]


def test_patches_are_dispensed_in_whole_boxes() -> None:
    plan = plan_taper(
        request(
            fentanyl(25, strengths=[12, 25]), pace={"reduction": 13, "unit": "absolute", "every_days": 28}
        )
    )
    # 25 -> 12 at 13 mcg/hr per 28 days; the 12 mcg/hr patch is kept 54 days (the change into it and its
    # removal, 25 mcg/hr together), a whole number of 3-day wear periods, supplied in two instalments of 27
    assert plan.steps[0].days == 54
    first = plan.steps[0].instalments[0]
    line = first.dispense[0]
    applications = math.ceil(27 * 24 / 72)  # 9 patches of 12 mcg/hr for 27 days, one every 72 hours
    assert first.days == 27
    assert (line.strength, line.boxes, line.units_per_box) == (Decimal(12), 2, 5)
    assert line.quantity == 10 >= applications
    assert plan.steps[0].dispense[0].boxes == sum(i.dispense[0].boxes or 0 for i in plan.steps[0].instalments)


def test_oral_dispensing_counts_each_strength_for_the_step(va_example_1: dict[str, object]) -> None:
    plan = plan_taper(va_example_1)
    lines = {(int(d.strength), d.quantity) for d in plan.steps[0].dispense}
    assert lines == {(60, 3 * 28), (15, 3 * 28)}
    assert plan.steps[-1].dispense == ()


def test_step_is_the_achievable_reduction_nearest_the_requested_one() -> None:
    plan = plan_taper(request(morphine_er(), pace=MONTHLY_10))  # 27 mg/day asked; 30 is nearest
    assert plan.steps[0].requested_reduction == Decimal(27)
    assert plan.steps[0].achieved_reduction == Decimal(30)
    assert [int(a.dose) for a in plan.steps[0].administrations] == [75, 75, 90]  # midday, then morning


def test_too_small_a_step_lengthens_the_interval_so_the_rate_is_not_exceeded() -> None:
    plan = plan_taper(request(morphine_er(), pace={"reduction": 5, "unit": "absolute", "every_days": 28}))
    first = plan.steps[0]
    assert first.achieved_reduction == Decimal(15)
    assert first.days == 84  # 15 mg/day every 84 days = 5 mg/day every 28 days
    assert first.achieved_reduction / first.days <= Decimal(5) / 28
    assert "interval_lengthened" in plan.warning_codes()


def test_a_step_larger_than_requested_is_given_a_longer_interval_never_the_normal_one() -> None:
    # 20 mg/day asked; the nearest achievable is 15 (one administration) or 30 (two): 15 is nearer
    plan = plan_taper(request(morphine_er(), pace={"reduction": 20, "unit": "absolute", "every_days": 28}))
    changes = [c for step in plan.steps for c in step.changes]
    for change, following in itertools.pairwise(changes):
        earned = max(28, math.ceil(28 * change.achieved_reduction / 20))
        if following.kind == "stop":  # the last dose is kept for both: 15 + 15 mg at 20 mg per 28 days
            assert change.interval_days == math.ceil(28 * (change.achieved_reduction + 15) / 20) == 42
        else:
            assert change.interval_days == earned


def test_the_end_steps_earn_their_interval_at_the_agreed_pace_too() -> None:
    # 2% of 45 mg is 0.9 mg/day per 28 days: removing a 15 mg administration earns 467 days, and the
    # last 15 mg dose is kept for itself and the stop (934 days)
    plan = plan_taper(
        request(morphine_er(15), pace={"reduction": 2, "unit": "percent_of_original", "every_days": 28})
    )
    assert [s.kind for s in plan.steps] == ["interval_extension", "interval_extension", "stop"]
    assert [s.days for s in plan.steps] == [467, 934, None]
    assert "interval_lengthened" in plan.warning_codes()
    assert plan.summary["drugs"][0]["achieved_percent_of_original_per_28_days"] <= 2


def test_immediate_release_tablets_are_whole_units_too() -> None:
    oxy = {"drug": OXYCODONE_IR, "dose": 15, "times_per_day": 4, "strengths": [5, 10]}
    plan = plan_taper(request(oxy, pace=MONTHLY_10))
    for step in plan.steps:
        for admin in step.administrations:
            assert admin.dose == sum((u.strength * u.count for u in admin.units), Decimal(0))
            assert all(isinstance(u.count, int) and u.count >= 1 for u in admin.units)


def test_several_opioids_are_tapered_one_at_a_time_long_acting_first() -> None:
    oxy = {"drug": OXYCODONE_IR, "dose": 5, "times_per_day": 2, "strengths": [5]}
    plan = plan_taper(request(oxy, morphine_er(30), pace=MONTHLY_10))
    changed = _changed_drugs(plan)
    assert all(len(drugs) == 1 for drugs in changed)
    first_oxy = next(i for i, drugs in enumerate(changed) if drugs == {0})
    assert all(drugs == {1} for drugs in changed[:first_oxy])
    assert plan.summary["order"] == [1, 0]


def test_the_patient_may_choose_which_drug_goes_first() -> None:
    oxy = {"drug": OXYCODONE_IR, "dose": 5, "times_per_day": 2, "strengths": [5]}
    plan = plan_taper(request(oxy, morphine_er(30), pace=MONTHLY_10, first_to_taper="short_acting"))
    assert _changed_drugs(plan)[0] == {0}
    chosen = plan_taper(request(morphine_er(30), oxy, fentanyl(25), pace=MONTHLY_10, first_to_taper=1))
    assert chosen.summary["order"][0] == 1


def test_percentages_apply_to_each_drugs_own_original_dose() -> None:
    plan = plan_taper(request(fentanyl(50, strengths=[12, 25, 50]), morphine_er(30), pace=MONTHLY_10))
    by_drug = {d["regimen_index"]: d for d in plan.summary["drugs"]}
    assert by_drug[0]["original_daily"] == 50
    assert by_drug[1]["original_daily"] == 90
    morphine_steps = [s for s in plan.steps if s.changed_drug == 1 and s.kind == "reduction"]
    assert morphine_steps[0].requested_reduction == Decimal(9)  # 10% of 90 mg, never of an MME total


def test_target_goal_stops_at_the_first_step_at_or_below_it() -> None:
    plan = plan_taper(
        request(morphine_er(), goal={"type": "target_daily_mme", "value": 100}, pace=MONTHLY_10)
    )
    assert plan.steps[-1].daily_mme <= 100 < plan.steps[-2].daily_mme
    assert plan.steps[-1].end_date is None
    assert plan.steps[-1].dispense  # the maintenance dose is still dispensed


def test_goal_already_met_plans_no_reduction() -> None:
    plan = plan_taper(request(morphine_er(15, 2), goal={"type": "target_daily_mme", "value": 90}))
    assert [s.kind for s in plan.steps] == ["hold"]
    assert "goal_already_met" in plan.warning_codes()


def test_default_pace_depends_on_the_duration_of_use() -> None:
    long_term = plan_taper(request(morphine_er()))
    assert long_term.paces[0].rule_id == "P-1"
    assert long_term.paces[0].every_days == 28
    short = plan_taper(request(morphine_er(), opioid_use_days=40))
    assert short.paces[0].rule_id == "P-2"
    assert short.paces[0].every_days == 7
    assert short.paces[0].then is not None
    assert short.paces[0].then.unit == "percent_of_current"
    assert "rate_above_long_term" not in long_term.warning_codes()


def test_rapid_steps_of_days_in_a_supervised_setting_require_review() -> None:
    pace = {"reduction": 45, "unit": "absolute", "every_days": 3}
    plan = plan_taper(request(morphine_er(), pace=pace, setting="inpatient"))
    rapid = next(w for w in plan.warnings if w.code == "rapid_taper")
    assert rapid.severity == "requires_review"
    assert "an inpatient setting" in rapid.message
    assert plan.review_required


def test_patient_factors_require_review() -> None:
    factors = {"suspected_oud": True, "suicide_risk": True, "pregnant": True, "benzodiazepine": True}
    plan = plan_taper(request(morphine_er(), patient_factors=factors))
    severities = {w.code: w.severity for w in plan.warnings}
    assert severities["suspected_oud"] == "requires_review"
    assert "medication treatment" in next(w.message for w in plan.warnings if w.code == "suspected_oud")
    assert severities["suicide_risk"] == "requires_review"
    assert severities["pregnancy"] == "requires_review"
    assert severities["benzodiazepine"] == "caution"


def test_screening_scores_raise_the_same_reviews() -> None:
    plan = plan_taper(request(morphine_er(), patient_factors={"phq9_item9": 1, "dsm5_oud_criteria": 2}))
    assert {"suicide_risk", "suspected_oud"} <= plan.warning_codes()
    calm = plan_taper(request(morphine_er(), patient_factors={"phq9_item9": 0, "dsm5_oud_criteria": 1}))
    assert not {"suicide_risk", "suspected_oud"} & calm.warning_codes()


def test_methadone_requires_review_with_ecg_advice() -> None:
    plan = plan_taper(request({"drug": METHADONE, "dose": 10, "times_per_day": 2, "strengths": [5, 10]}))
    warning = next(w for w in plan.warnings if w.code == "methadone")
    assert warning.severity == "requires_review"
    assert "ECG (QTc)" in warning.message
    assert plan.review_required


def test_naloxone_is_recommended_for_every_taper_with_reasons() -> None:
    low = plan_taper(request(morphine_er(15, 2)))
    high = plan_taper(request(morphine_er(), patient_factors={"benzodiazepine": True}))
    assert "naloxone" in low.warning_codes()
    message = next(w.message for w in high.warnings if w.code == "naloxone")
    assert "270 MME/day" in message
    assert "benzodiazepine" in message


def test_follow_ups_are_at_least_monthly_and_within_four_weeks_of_each_change(
    va_example_1: dict[str, object],
) -> None:
    plan = plan_taper(request(morphine_er(), pace={"reduction": 5, "unit": "absolute", "every_days": 28}))
    dates = [v.date for v in plan.follow_ups]
    assert all((b - a).days <= 28 for a, b in zip([plan.steps[0].start_date, *dates], dates, strict=False))
    for step in plan.steps:
        assert any(7 <= (d - step.start_date).days <= 28 for d in dates) or step.days == 7


def test_every_warning_names_a_source(va_example_1: dict[str, object]) -> None:
    for warning in plan_taper(va_example_1).warnings:
        assert warning.source
        assert warning.severity in ("info", "caution", "requires_review")


def test_products_and_strengths_come_from_the_knowledge_package_when_not_given() -> None:
    plan = plan_taper(request({"drug": FENTANYL_25, "dose": 25}, pace=MONTHLY_10))
    assert plan.steps[0].administrations[0].time == "patch, changed every 72 hours"
    assert "from the catalogue" in " ".join(plan.summary["assumptions"])


def test_a_structured_product_needs_no_product_text() -> None:
    product = {
        "ingredient": "morphine",
        "unit": "mg",
        "route": "oral",
        "release": "ER",
        "dose_form": "tablet",
    }
    plan = plan_taper(
        request(
            {
                "drug": "MS Contin as written by hand",
                "dose": 30,
                "times_per_day": 2,
                "strengths": [15, 30],
                "product": product,
            }
        )
    )
    assert plan.daily_totals("morphine")[0] == Decimal(60)


def test_plan_json_round_trips(va_example_1: dict[str, object]) -> None:
    plan = plan_taper(request(morphine_er(), fentanyl(25), pace=MONTHLY_10))
    again = TaperPlan.from_dict(json.loads(plan.to_json()))
    assert again.to_dict() == plan.to_dict()
    assert "2025-01-06" in plan.summary_text()
