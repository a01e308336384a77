"""Properties over many generated regimens and paces: what must hold for every plan."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taperwise.taper import TaperPlan, plan_taper
from taperwise.taper.rules import load_rules
from tests.taper.builders import PATCH_STRENGTHS, fentanyl, morphine_er, request

ER_STRENGTHS = [15, 30, 60, 100]


@st.composite
def oral_regimens(draw: st.DrawFn) -> dict[str, Any]:
    times = draw(st.integers(1, 4))
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
    return request(*regimen, pace=pace, goal=goal, opioid_use_days=draw(st.integers(0, 3000)))


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
    real = {0: {Decimal(str(s)) for s in raw["regimen"][0]["strengths"]}}
    if len(raw["regimen"]) > 1:
        real[1] = {Decimal(str(s)) for s in raw["regimen"][1]["strengths"]}
    for step in plan.steps:
        for admin in step.administrations:
            assert all(u.strength in real[admin.regimen_index] for u in admin.units)
            assert all(isinstance(u.count, int) and u.count >= 1 for u in admin.units)
            assert sum((u.strength * u.count for u in admin.units), Decimal(0)) == admin.dose


@SETTINGS
@given(requests())
def test_only_one_drug_changes_at_a_time(raw: dict[str, Any]) -> None:
    plan = plan_taper(raw)
    previous = plan.baseline
    for step in plan.steps:
        before = {(a.regimen_index, a.time, a.dose) for a in previous.administrations}
        after = {(a.regimen_index, a.time, a.dose) for a in step.administrations}
        assert len({i for i, _, _ in before ^ after}) <= 1
        previous = step


@SETTINGS
@given(requests())
def test_a_warning_appears_whenever_a_rule_is_crossed(raw: dict[str, Any]) -> None:
    plan = plan_taper(raw)
    rules = load_rules()
    check = rules.rate_check_for(raw["opioid_use_days"])
    originals = {d["regimen_index"]: Decimal(str(d["original_daily"])) for d in plan.summary["drugs"]}
    for step in plan.steps:
        if step.changed_drug is None or step.achieved_reduction is None or step.interval_days is None:
            continue
        rate = (
            step.achieved_reduction / originals[step.changed_drug] * 100 * check.per_days / step.interval_days
        )
        if rate > check.threshold:
            assert any(w.code == check.warning and step.number in w.steps for w in plan.warnings)
        if step.interval_days < rules.days("rapid", "below_days"):
            assert any(w.code == "rapid_taper" and w.severity == "requires_review" for w in plan.warnings)
        limit = (step.requested_reduction or Decimal(0)) * rules.number("rounding", "max_step_multiple")
        if step.kind == "reduction" and step.achieved_reduction > limit:
            assert any(w.code == "interval_lengthened" and step.number in w.steps for w in plan.warnings)
    assert "naloxone" in plan.warning_codes()
    if any(s.kind == "stop" and s.changed_drug == 1 for s in plan.steps):
        assert "patch_last_step" in plan.warning_codes()
