"""Properties over many generated regimens and paces: what must hold for every plan.

Regimens: morphine ER tablets, an oral liquid or a combination product (co-codamol in the UK,
hydrocodone/acetaminophen in the US), optionally with a fentanyl patch; one drug at a time or, when drawn,
concurrent changes; discontinue or a target daily MME; any duration of use (steps of days only for short
use or in a supervised setting).
"""

from __future__ import annotations

import itertools
import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from taperwise.errors import RequestValidationError
from taperwise.taper import TaperPlan, adapt_plan, plan_taper
from taperwise.taper.rules import load_rules
from tests.taper.builders import MORPHINE_SOLUTION, PATCH_STRENGTHS, fentanyl, morphine_er, request

ER_STRENGTHS = [15, 30, 60, 100]
CO_CODAMOL = "Co-codamol 30mg/500mg tablets"
HYDROCODONE_APAP = "Hydrocodone Bitartrate 10 MG / Acetaminophen 325 MG Oral Tablet"
COMBINATION_LINES = {CO_CODAMOL: {8, 15, 30}, HYDROCODONE_APAP: {5, Decimal("7.5"), 10}}


@st.composite
def oral_regimens(draw: st.DrawFn) -> dict[str, Any]:
    times = draw(st.integers(1, 4))
    kind = draw(st.sampled_from(["tablet", "tablet", "liquid", "combination"]))
    if kind == "liquid":  # an oral liquid, 2 mg/mL, measured in 0.5 mL steps
        return {"drug": MORPHINE_SOLUTION, "doses": [draw(st.integers(1, 20)) for _ in range(times)]}
    if kind == "combination":
        drug = draw(st.sampled_from(sorted(COMBINATION_LINES)))
        unit = max(COMBINATION_LINES[drug])
        return {"drug": drug, "doses": [unit * draw(st.integers(1, 2)) for _ in range(times)]}
    doses = [draw(st.sampled_from([15, 30, 45, 60, 75, 90, 100, 120])) for _ in range(times)]
    item = morphine_er(strengths=ER_STRENGTHS)
    del item["dose"], item["times_per_day"]
    return {**item, "doses": doses}


@st.composite
def paces(draw: st.DrawFn, rapid: bool) -> dict[str, Any]:
    unit = draw(st.sampled_from(["percent_of_original", "percent_of_current", "absolute"]))
    reduction = draw(st.integers(2, 60) if unit == "absolute" else st.integers(3, 50))
    intervals = [3, 7, 14, 28, 42] if rapid else [7, 14, 28, 42]
    pace: dict[str, Any] = {
        "reduction": reduction,
        "unit": unit,
        "every_days": draw(st.sampled_from(intervals)),
    }
    if unit != "percent_of_current" and draw(st.booleans()):  # slowing once a third remains
        pace |= {"until_percent_of_original": 33, "then": {**pace, "reduction": max(reduction // 2, 1)}}
    return pace


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    first = draw(oral_regimens())
    regimen = [first]
    market = {CO_CODAMOL: "UK", HYDROCODONE_APAP: "US"}.get(first["drug"])
    use_days = draw(st.integers(0, 3000))
    supervised = draw(st.integers(0, 5)) == 0
    fields: dict[str, Any] = {"setting": "inpatient"} if supervised else {}
    if draw(st.booleans()):
        regimen.append(fentanyl(draw(st.sampled_from([12, 25, 50, 75, 100])), strengths=PATCH_STRENGTHS))
        pace = {"reduction": draw(st.integers(5, 40)), "unit": "percent_of_original", "every_days": 28}
        market = None if market == "UK" else market  # 37.5/62.5/87.5 mcg/hr patches are not sold in the UK
    elif draw(st.integers(0, 4)) == 0:
        pace = None  # the default pace for the duration of use
    else:
        pace = draw(paces(rapid=supervised or use_days < 90))
    goal = draw(
        st.one_of(
            st.just({"type": "discontinue"}),
            st.builds(lambda v: {"type": "target_daily_mme", "value": v}, st.integers(10, 200)),
        )
    )
    if market:
        fields["market"] = market
    return request(
        *regimen,
        pace=pace,
        goal=goal,
        opioid_use_days=use_days,
        concurrent_changes=draw(st.booleans()),
        **fields,
    )


SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _plan(raw: dict[str, Any]) -> TaperPlan:
    """The plan, or (for a pace so slow that the plan would outlast the plausibility limit, which is
    refused with its own error and tested in test_validation) no example."""
    try:
        return plan_taper(raw)
    except RequestValidationError as error:
        assume(not error.problem.startswith("at this pace the plan would last"))
        raise


def _per_drug(plan: TaperPlan, index: int) -> list[Decimal]:
    return [
        sum((a.dose for a in s.administrations if a.regimen_index == index), Decimal(0))
        for s in (plan.baseline, *plan.steps)
    ]


def _changes(plan: TaperPlan, index: int) -> list[tuple[date, Any]]:
    return [(s.start_date, c) for s in plan.steps for c in s.changes if c.regimen_index == index]


def _every_days(plan: TaperPlan, index: int) -> int:
    """The interval of the drug's pace (every phase the tests draw has the same interval)."""
    return plan.paces[index].every_days


@SETTINGS
@given(requests())
def test_no_dose_ever_increases(raw: dict[str, Any]) -> None:
    plan = _plan(raw)
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
def test_the_agreed_pace_is_a_ceiling_over_every_window_the_last_steps_included(raw: dict[str, Any]) -> None:
    """For every run of one drug's changes i..j: the days they need at the agreed pace (achieved /
    requested x every_days, each at its own phase) fit between the first and the last of them, plus the
    time after the last one unless it is the final stop, which has to be paid for before it."""
    plan = _plan(raw)
    start = plan.baseline.start_date
    for index in range(len(raw["regimen"])):
        every = _every_days(plan, index)
        changes = _changes(plan, index)
        need = [c.achieved_reduction * every / c.requested_reduction for _, c in changes]
        for i, j in itertools.combinations_with_replacement(range(len(changes)), 2):
            (first, _), (last, change) = changes[i], changes[j]
            after = 0 if change.kind == "stop" else change.interval_days
            before = 0
            if i == j and change.kind == "stop":  # a stop alone: the time the last dose was kept before it
                before = (first - (changes[i - 1][0] if i else start)).days
            assert sum(need[i : j + 1]) <= (last - first).days + after + before, (index, i, j)


@SETTINGS
@given(requests())
def test_no_step_ever_dispenses_a_product_that_is_not_in_the_baseline_regimen(raw: dict[str, Any]) -> None:
    plan = _plan(raw)

    def product(label: str) -> str:  # the label without the opioid strength: partner, release and form
        return re.sub(r"^(\w+) [\d.]+ (mg|mcg/hr|mg/mL)", r"\1 \2", label)

    baseline: dict[int, set[str]] = {}
    for admin in plan.baseline.administrations:
        baseline.setdefault(admin.regimen_index, set()).update(product(u.drug) for u in admin.units)
    partners = {
        admin.regimen_index: {(p.ingredient, p.strength) for u in admin.units for p in u.partners}
        for admin in plan.baseline.administrations
    }
    for step in plan.steps:
        for admin in step.administrations:
            for unit in admin.units:
                assert product(unit.drug) in baseline[admin.regimen_index]
                assert {(p.ingredient, p.strength) for p in unit.partners} <= partners[admin.regimen_index]
                assert bool(unit.partners) == bool(partners[admin.regimen_index])
        lines = [*step.dispense, *(line for part in step.instalments for line in part.dispense)]
        labels = {product(a_unit.drug) for s in (plan.baseline, *plan.steps) for a in s.administrations
                  for a_unit in a.units}  # fmt: skip
        assert all(product(line.drug) in labels for line in lines)


@SETTINGS
@given(requests())
def test_a_combination_partner_never_rises_and_every_new_dose_is_simple(raw: dict[str, Any]) -> None:
    plan = _plan(raw)
    simple = load_rules().raw["simple_regimens"]
    for ingredient in ("acetaminophen",):
        totals = [
            s.daily_dose[ingredient].amount
            for s in (plan.baseline, *plan.steps)
            if ingredient in s.daily_dose
        ]
        assert all(a >= b for a, b in itertools.pairwise(totals))
    previous = {(a.regimen_index, a.time): a for a in plan.baseline.administrations}
    for step in plan.steps:
        for admin in step.administrations:
            before = previous.get((admin.regimen_index, admin.time))
            if admin.volume_ml is not None or (before is not None and before.dose == admin.dose):
                continue
            assert len(admin.units) <= simple["max_strengths_per_dose"]
            assert sum(u.count for u in admin.units) <= simple["max_units_per_dose"]
            if before is not None and admin.units[0].partners:  # a combination: never more units
                assert sum(u.count for u in admin.units) <= sum(u.count for u in before.units)
        previous = {(a.regimen_index, a.time): a for a in step.administrations}


@SETTINGS
@given(requests())
def test_every_plan_ends_at_its_goal(raw: dict[str, Any]) -> None:
    plan = _plan(raw)
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
    plan = _plan(raw)
    real = {
        i: {Decimal(str(s)) for s in item.get("strengths") or COMBINATION_LINES.get(item["drug"], [2])}
        for i, item in enumerate(raw["regimen"])
    }
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
def test_instalments_cover_each_step_within_the_supply_limit(raw: dict[str, Any]) -> None:
    plan = _plan(raw)
    limit = load_rules().max_days_per_instalment(raw.get("market"))
    for step in plan.steps:
        parts = step.instalments
        if not step.administrations:
            assert all(not part.dispense for part in parts)
            continue
        assert parts[0].start_date == step.start_date
        assert all(part.days <= limit for part in parts)
        assert all(b.start_date == a.end_date + timedelta(days=1) for a, b in itertools.pairwise(parts))
        covered = sum(part.days for part in parts)
        assert covered == (step.days or load_rules().days("dispense", "maintenance_days"))
        for line in step.dispense:
            same = [
                x
                for part in parts
                for x in part.dispense
                if (x.drug, x.strength) == (line.drug, line.strength)
            ]
            assert line.quantity == sum(x.quantity for x in same)


@SETTINGS
@given(requests())
def test_only_one_drug_changes_at_a_time_unless_asked(raw: dict[str, Any]) -> None:
    plan = _plan(raw)
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
    plan = _plan(raw)
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
def test_steps_of_days_after_long_term_use_only_in_a_supervised_setting(raw: dict[str, Any]) -> None:
    plan = _plan(raw)
    rapid = [c for s in plan.steps for c in s.changes if c.interval_days < 7]
    if rapid and raw["opioid_use_days"] >= 90:
        assert raw.get("setting") == "inpatient"
        assert plan.review_required


@SETTINGS
@given(requests())
def test_follow_ups_are_at_least_monthly_and_one_to_four_weeks_after_each_change(raw: dict[str, Any]) -> None:
    plan = _plan(raw)
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
    plan = _plan(raw)
    rules = load_rules()
    check = rules.rate_check_for(raw["opioid_use_days"])
    originals = {d["regimen_index"]: Decimal(str(d["original_daily"])) for d in plan.summary["drugs"]}
    for step in plan.steps:
        for change in step.changes:  # every drug changed at this step, each checked on its own
            here = [w for w in plan.warnings if step.number in w.steps and w.drug == change.regimen_index]
            original = originals[change.regimen_index]
            rate = change.achieved_reduction / original * 100 * check.per_days / change.interval_days
            if rate > check.threshold:
                assert any(w.code == check.warning for w in here)
            if change.achieved_reduction / original * 100 * 7 / change.interval_days > 20:
                assert any(w.code == "rate_beyond_va_tiers" and w.severity == "requires_review" for w in here)
            if change.interval_days < rules.days("rapid", "below_days"):
                assert any(w.code == "rapid_taper" and w.severity == "requires_review" for w in here)
            if change.interval_days > _every_days(plan, change.regimen_index):
                assert any(w.code == "interval_lengthened" for w in here)
            if change.kind == "stop" and change.regimen_index == 1:
                assert any(w.code == "patch_last_step" and w.severity == "caution" for w in here)
    assert "naloxone" in plan.warning_codes()
    totals = plan.daily_totals("acetaminophen")
    if any(a < b for b, a in itertools.pairwise(totals)):  # the partner falls: the plan says so
        assert "combination_partner" in plan.warning_codes()


@SETTINGS
@given(requests(), st.integers(1, 120), st.sampled_from(["continue", "pause", "slow"]))
def test_a_follow_up_never_brings_a_change_forward(raw: dict[str, Any], day: int, preference: str) -> None:
    """Whatever the patient reports (doses as planned), no change comes earlier than it was planned."""
    plan = _plan(raw)
    visit = plan.baseline.start_date + timedelta(days=day)
    try:
        adapted = adapt_plan(plan, {"date": visit.isoformat(), "preference": preference})
    except RequestValidationError as error:  # refused with advice: a rapid pace that has now run past 90
        # days of use, or a slowed plan too long to plan (agree a new one)
        assume(
            error.field != "plan.paces"
            or not ("rapid taper" in error.problem or "agree a new plan" in error.problem)
        )
        raise
    planned = [s.start_date for s in plan.steps if s.changes and s.start_date >= visit]
    new = [s.start_date for s in adapted.steps if s.changes]
    if planned and new:
        assert new[0] >= planned[0]
    if preference == "pause" and planned:
        assert new
        assert new[0] >= planned[0] + timedelta(days=28)
