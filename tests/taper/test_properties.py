"""Properties over many generated regimens and paces: what must hold for every plan.

Regimens: morphine ER tablets or an oral liquid, optionally with a fentanyl patch; one drug at a time or,
when drawn, concurrent changes; discontinue or a target daily MME.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taperwise.taper import TaperPlan, plan_taper
from taperwise.taper.rules import load_rules
from tests.taper.builders import MORPHINE_SOLUTION, PATCH_STRENGTHS, fentanyl, morphine_er, request

ER_STRENGTHS = [15, 30, 60, 100]


@st.composite
def oral_regimens(draw: st.DrawFn) -> dict[str, Any]:
    times = draw(st.integers(1, 4))
    if draw(st.integers(0, 4)) == 0:  # an oral liquid, 2 mg/mL, measured in 0.5 mL steps
        return {"drug": MORPHINE_SOLUTION, "doses": [draw(st.integers(1, 20)) for _ in range(times)]}
    doses = [draw(st.sampled_from([15, 30, 45, 60, 75, 90, 100, 120])) for _ in range(times)]
    item = morphine_er(strengths=ER_STRENGTHS)
    del item["dose"], item["times_per_day"]
    return {**item, "doses": doses}


@st.composite
def paces(draw: st.DrawFn) -> dict[str, Any]:
    unit = draw(st.sampled_from(["percent_of_original", "percent_of_current", "absolute"]))
    reduction = draw(st.integers(1, 60 if unit == "absolute" else 50))
    return {"reduction": reduction, "unit": unit, "every_days": draw(st.sampled_from([3, 7, 14, 28, 42]))}


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    regimen = [draw(oral_regimens())]
    if draw(st.booleans()):
        regimen.append(fentanyl(draw(st.sampled_from([12, 25, 50, 75, 100])), strengths=PATCH_STRENGTHS))
        pace = {"reduction": draw(st.integers(5, 40)), "unit": "percent_of_original", "every_days": 28}
    else:
        pace = draw(paces())
    goal = draw(
        st.one_of(
            st.just({"type": "discontinue"}),
            st.builds(lambda v: {"type": "target_daily_mme", "value": v}, st.integers(10, 200)),
        )
    )
    return request(
        *regimen,
        pace=pace,
        goal=goal,
        opioid_use_days=draw(st.integers(0, 3000)),
        concurrent_changes=draw(st.booleans()),
    )


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _per_drug(plan: TaperPlan, index: int) -> list[Decimal]:
    return [
        sum((a.dose for a in s.administrations if a.regimen_index == index), Decimal(0))
        for s in (plan.baseline, *plan.steps)
    ]


@SETTINGS
@given(requests())
def test_no_dose_ever_increases(raw: dict[str, Any]) -> None:
    plan = plan_taper(raw)
    for index in range(len(raw["regimen"])):
        doses = _per_drug(plan, index)
        assert all(a >= b for a, b in itertools.pairwise(doses))
    previous = {(a.regimen_index, a.time): a.dose for a in plan.baseline.administrations}
    for step in plan.steps:
        for admin in step.administrations:
            assert (
                admin.dose <= previous.get((admin.regimen_index, admin.time), admin.dose)
                or step.kind != "reduction"
            )
        previous = {(a.regimen_index, a.time): a.dose for a in step.administrations}
    mmes = [s.daily_mme for s in (plan.baseline, *plan.steps)]
    assert all(a >= b for a, b in itertools.pairwise(mmes))


@SETTINGS
@given(requests())
def test_every_plan_ends_at_its_goal(raw: dict[str, Any]) -> None:
    plan = plan_taper(raw)
    final = plan.steps[-1]
    assert final.end_date is None
    if raw["goal"]["type"] == "discontinue":
        assert final.daily_mme == 0
        assert final.administrations == ()
    else:
        assert final.daily_mme <= raw["goal"]["value"]
        if len(plan.steps) > 1:
            assert plan.steps[-2].daily_mme > raw["goal"]["value"]
    assert plan.summary["goal_reached"] is True


@SETTINGS
@given(requests())
def test_tablets_are_never_split_and_strengths_are_real(raw: dict[str, Any]) -> None:
    plan = plan_taper(raw)
    real = {i: {Decimal(str(s)) for s in item.get("strengths", [2])} for i, item in enumerate(raw["regimen"])}
    for step in plan.steps:
        for admin in step.administrations:
            assert all(u.strength in real[admin.regimen_index] for u in admin.units)
            assert all(isinstance(u.count, int) and u.count >= 1 for u in admin.units)
            if admin.volume_ml is None:
                assert sum((u.strength * u.count for u in admin.units), Decimal(0)) == admin.dose
            else:  # a liquid: whole 0.5 mL measures of its one concentration
                assert admin.volume_ml * 2 == admin.dose
                assert (admin.volume_ml * 2) % 1 == 0


@SETTINGS
@given(requests())
def test_only_one_drug_changes_at_a_time_unless_asked(raw: dict[str, Any]) -> None:
    plan = plan_taper(raw)
    previous = plan.baseline
    for step in plan.steps:
        before = {(a.regimen_index, a.time, a.dose) for a in previous.administrations}
        after = {(a.regimen_index, a.time, a.dose) for a in step.administrations}
        changed = {i for i, _, _ in before ^ after}
        assert changed == {c.regimen_index for c in step.changes}
        if not raw["concurrent_changes"]:
            assert len(changed) <= 1
        if len(changed) > 1:
            assert any(w.code == "concurrent_changes" and step.number in w.steps for w in plan.warnings)
        previous = step


@SETTINGS
@given(requests())
def test_no_drug_is_ever_stopped_abruptly(raw: dict[str, Any]) -> None:
    """A drug stops only from its smallest unit taken once a day (or its smallest patch)."""
    plan = plan_taper(raw)
    previous = plan.baseline
    for step in plan.steps:
        for change in step.changes:
            if change.kind == "stop":
                last = [a for a in previous.administrations if a.regimen_index == change.regimen_index]
                assert len(last) == 1
                assert sum(u.count for u in last[0].units) == 1  # one tablet, one measure or one patch
                assert change.achieved_reduction == min(
                    (a.dose for s in (plan.baseline, *plan.steps) for a in s.administrations
                     if a.regimen_index == change.regimen_index), default=None)  # fmt: skip
        previous = step


@SETTINGS
@given(requests())
def test_rounding_never_exceeds_the_agreed_step_or_its_average_rate(raw: dict[str, Any]) -> None:
    plan = plan_taper(raw)
    multiple = load_rules().number("rounding", "max_step_multiple")
    every = raw["pace"]["every_days"]
    for step in plan.steps:
        for change in step.changes:
            if change.kind != "reduction":
                continue
            if change.achieved_reduction > change.requested_reduction * multiple:
                # only when even the smallest move is larger: then the interval is lengthened
                assert change.interval_days > every
                assert change.achieved_reduction / change.interval_days <= change.requested_reduction / every
            else:
                assert change.interval_days == every


@SETTINGS
@given(requests())
def test_follow_ups_are_at_least_monthly_and_one_to_four_weeks_after_each_change(raw: dict[str, Any]) -> None:
    plan = plan_taper(raw)
    visits = [v.date for v in plan.follow_ups]
    last_change = max(s.start_date for s in plan.steps if s.changes or s.kind == "hold")
    assert visits
    assert visits[-1] >= last_change
    for earlier, later in itertools.pairwise([plan.baseline.start_date, *visits]):
        assert (later - earlier).days <= 28
    for step in plan.steps:
        if not step.changes:
            continue
        soonest = timedelta(days=min(7, step.days or 7))
        assert any(soonest <= visit - step.start_date <= timedelta(days=28) for visit in visits)
        if (step.days or 28) <= 7:  # weekly (faster) steps: a visit before the next change
            assert any(step.start_date < visit <= step.start_date + timedelta(days=7) for visit in visits)


@SETTINGS
@given(requests())
def test_a_warning_appears_whenever_a_rule_is_crossed(raw: dict[str, Any]) -> None:
    plan = plan_taper(raw)
    rules = load_rules()
    check = rules.rate_check_for(raw["opioid_use_days"])
    originals = {d["regimen_index"]: Decimal(str(d["original_daily"])) for d in plan.summary["drugs"]}
    limit = rules.number("rounding", "max_step_multiple")
    for step in plan.steps:
        for change in step.changes:  # every drug changed at this step, each checked on its own
            here = [w for w in plan.warnings if step.number in w.steps and w.drug == change.regimen_index]
            original = originals[change.regimen_index]
            rate = change.achieved_reduction / original * 100 * check.per_days / change.interval_days
            if rate > check.threshold:
                assert any(w.code == check.warning for w in here)
            if change.interval_days < rules.days("rapid", "below_days"):
                assert any(w.code == "rapid_taper" and w.severity == "requires_review" for w in here)
            if change.kind == "reduction" and change.achieved_reduction > change.requested_reduction * limit:
                assert any(w.code == "interval_lengthened" for w in here)
            if change.kind == "stop" and change.regimen_index == 1:
                assert any(w.code == "patch_last_step" and w.severity == "caution" for w in here)
    assert "naloxone" in plan.warning_codes()
