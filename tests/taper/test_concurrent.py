"""Several drugs: one change at a time by default; changes together only when the request asks."""

from __future__ import annotations

from decimal import Decimal

from taperwise.taper import TaperPlan, plan_taper
from tests.taper.builders import MONTHLY_10, fentanyl, morphine_er, oxycodone_ir, request


def _drugs_changed(plan: TaperPlan) -> list[set[int]]:
    """For each step, which drugs' doses differ from the step before (read from the doses, not labels)."""
    out, previous = [], plan.baseline
    for step in plan.steps:
        before = {(a.regimen_index, a.time, a.dose) for a in previous.administrations}
        after = {(a.regimen_index, a.time, a.dose) for a in step.administrations}
        out.append({index for index, _, _ in before ^ after})
        previous = step
    return out


def test_by_default_no_step_changes_two_drugs() -> None:
    plan = plan_taper(request(morphine_er(30), fentanyl(25, strengths=[12, 25]), pace=MONTHLY_10))
    assert all(len(drugs) == 1 for drugs in _drugs_changed(plan))
    assert all(len(step.changes) <= 1 for step in plan.steps)
    assert "concurrent_changes" not in plan.warning_codes()


def test_concurrent_changes_step_several_drugs_down_together_when_asked() -> None:
    raw = request(morphine_er(30), oxycodone_ir(5, 2), pace=MONTHLY_10, concurrent_changes=True)
    plan = plan_taper(raw)
    changed = _drugs_changed(plan)
    assert changed[0] == {0, 1}
    assert {c.regimen_index for c in plan.steps[0].changes} == {0, 1}
    warning = next(w for w in plan.warnings if w.code == "concurrent_changes")
    assert warning.severity == "caution"
    assert 1 in warning.steps
    assert all(n in warning.steps for n, drugs in enumerate(changed, start=1) if len(drugs) > 1)


def test_concurrent_changes_keep_each_drugs_own_pace_and_original_dose() -> None:
    plan = plan_taper(request(morphine_er(30), oxycodone_ir(5, 2), pace=MONTHLY_10, concurrent_changes=True))
    first = {c.regimen_index: c for c in plan.steps[0].changes}
    assert first[0].requested_reduction == Decimal(9)  # 10% of 90 mg morphine
    assert first[1].requested_reduction == Decimal(1)  # 10% of 10 mg oxycodone, never of an MME total
    assert plan.summary["drugs"][1]["original_daily"] == 10


def test_concurrent_changes_still_warn_per_drug() -> None:
    plan = plan_taper(
        request(
            morphine_er(30),
            oxycodone_ir(5, 2),
            pace={"reduction": 30, "unit": "percent_of_original", "every_days": 28},
            concurrent_changes=True,
        )
    )
    fast = [w for w in plan.warnings if w.code == "rate_above_long_term"]
    assert {w.drug for w in fast} == {0, 1}
    assert all(1 in w.steps for w in fast)


def test_concurrent_changes_end_at_a_target_goal() -> None:
    plan = plan_taper(
        request(
            morphine_er(30),
            fentanyl(25, strengths=[12, 25]),
            pace=MONTHLY_10,
            goal={"type": "target_daily_mme", "value": 90},
            concurrent_changes=True,
        )
    )
    assert plan.steps[-1].daily_mme <= 90 < plan.steps[-2].daily_mme
    assert plan.summary["goal_reached"] is True


def test_a_single_drug_plan_is_the_same_with_or_without_concurrent_changes() -> None:
    alone = plan_taper(request(morphine_er(), pace=MONTHLY_10))
    together = plan_taper(request(morphine_er(), pace=MONTHLY_10, concurrent_changes=True))
    assert [s.to_dict() for s in alone.steps] == [s.to_dict() for s in together.steps]
