"""Regimen -> taper plan: one drug at a time, in the agreed order, each at its own pace.

Several opioids are tapered one after another (long-acting first by default, or the patient's choice) so
that the patient never meets two changes at once; percentages apply to each drug's own original dose and
MME is only summed, never used to convert between drugs (clinical-rules §4).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from taperwise.errors import RequestValidationError
from taperwise.taper.calendar import administrations, daily_doses, dispense, total_mme
from taperwise.taper.courses import DrugCourse, ProductReader, default_reader, resolve_course, taper_order
from taperwise.taper.plan import HistoryEntry, Step, TaperPlan, Warning
from taperwise.taper.request import Pace, TaperRequest
from taperwise.taper.rules import TaperRules, load_rules
from taperwise.taper.safety import plan_warnings
from taperwise.taper.stepping import Change, Dosing, initial_dosing, next_change
from taperwise.taper.visits import follow_up_visits, plan_summary


@dataclass(frozen=True)
class Period:
    """One period of the timeline before dates are attached: the doses in force and how long."""

    dosings: dict[int, Dosing]
    days: int | None
    kind: str
    changed: int | None = None
    change: Change | None = None


@dataclass(frozen=True)
class PlanInputs:
    """What a plan is built from: the original request plus, after a follow-up, where the patient is now."""

    request: TaperRequest
    courses: dict[int, DrugCourse]
    dosings: dict[int, Dosing]
    paces: dict[int, Pace]
    start_date: date
    hold_days: int | None = None  # hold the current doses this long before the next change
    hold_open: bool = False  # hold with no further change (referral)
    history: tuple[HistoryEntry, ...] = ()
    extra_warnings: tuple[Warning, ...] = field(default=())


def plan_taper(
    request: TaperRequest | Mapping[str, Any], *, read_product: ProductReader | None = None
) -> TaperPlan:
    """Build a taper plan from a request (a :class:`TaperRequest` or its JSON dict).

    Raises :class:`RequestValidationError` naming the field when the request is incomplete or contradictory.
    """
    if not isinstance(request, TaperRequest):
        request = TaperRequest.from_dict(request)
    rules = load_rules()
    courses = resolve_courses(request, rules, read_product or default_reader())
    dosings = {i: initial_dosing(course, rules) for i, course in courses.items()}
    paces = choose_paces(request, courses, rules)
    return build_plan(PlanInputs(request, courses, dosings, paces, request.start_date), rules)


def resolve_courses(request: TaperRequest, rules: TaperRules, read: ProductReader) -> dict[int, DrugCourse]:
    return {i: resolve_course(i, item, rules, read) for i, item in enumerate(request.regimen)}


def choose_paces(
    request: TaperRequest, courses: Mapping[int, DrugCourse], rules: TaperRules
) -> dict[int, Pace]:
    """Each drug's pace: its own, else the request's, else the default for the duration of use."""
    if request.pace is not None and request.pace.unit == "absolute":
        units = {course.spec.unit for i, course in courses.items() if request.regimen[i].pace is None}
        if len(units) > 1:
            raise RequestValidationError(
                "pace.unit",
                "an absolute reduction is ambiguous for drugs in mg and mcg/hr; give each drug its pace",
            )
    paces = {}
    for i in courses:
        pace = request.regimen[i].pace or request.pace
        if pace is None:
            rule_id, raw = rules.default_pace(request.opioid_use_days)
            pace = Pace.from_dict({**raw, "rule_id": rule_id}, "pace")
        paces[i] = pace
    return paces


def _goal_check(inputs: PlanInputs, index: int, current: dict[int, Dosing]) -> Any:
    goal = inputs.request.goal
    if goal.type == "discontinue" or goal.value is None:
        return lambda dosing: False
    target: Decimal = goal.value

    def reached(dosing: Dosing) -> bool:
        return total_mme(inputs.courses, {**current, index: dosing}, inputs.request.factor_set) <= target

    return reached


def timeline(inputs: PlanInputs, rules: TaperRules) -> list[Period]:
    current = dict(inputs.dosings)
    periods: list[Period] = []
    if inputs.hold_open:
        return [Period(dict(current), None, "hold")]
    if inputs.hold_days:
        periods.append(Period(dict(current), inputs.hold_days, "hold"))
    for index in taper_order(inputs.request, inputs.courses):
        course, pace = inputs.courses[index], inputs.paces[index]
        while change := next_change(course, current[index], pace, rules, _goal_check(inputs, index, current)):
            current[index] = change.dosing
            periods.append(Period(dict(current), change.days, change.kind, index, change))
    if not periods:
        periods.append(Period(dict(current), None, "hold"))
    last = periods[-1]
    periods[-1] = Period(last.dosings, None, last.kind, last.changed, last.change)
    return periods


def _step(number: int, start: date, period: Period, inputs: PlanInputs, rules: TaperRules) -> Step:
    courses = inputs.courses
    end = None if period.days is None else start + timedelta(days=period.days - 1)
    supply_days = period.days or rules.days("dispense", "maintenance_days")
    admins = tuple(a for i in sorted(courses) for a in administrations(courses[i], period.dosings[i]))
    lines = tuple(
        line for i in sorted(courses) for line in dispense(courses[i], period.dosings[i], supply_days)
    )
    change = period.change
    changed_times = period.dosings[period.changed].times if period.changed is not None else ()
    return Step(
        number=number,
        start_date=start,
        end_date=end,
        kind=period.kind,
        changed_drug=period.changed,
        administrations=admins,
        daily_dose=daily_doses(courses, period.dosings),
        daily_mme=total_mme(courses, period.dosings, inputs.request.factor_set),
        dispense=lines,
        interval_days=change.days if change else period.days,
        requested_reduction=change.requested if change else None,
        achieved_reduction=change.achieved if change else None,
        schedule=_schedule_text(inputs, period, changed_times, rules),
    )


def _schedule_text(inputs: PlanInputs, period: Period, times: tuple[str, ...], rules: TaperRules) -> str:
    if period.changed is None:
        return "unchanged"
    course = inputs.courses[period.changed]
    if course.is_patch or not times:
        return "patch" if times else "stopped"
    return rules.schedule(len(times)).interval


def build_plan(inputs: PlanInputs, rules: TaperRules) -> TaperPlan:
    periods = timeline(inputs, rules)
    baseline = _step(0, inputs.start_date, Period(dict(inputs.dosings), None, "baseline"), inputs, rules)
    steps, start = [], inputs.start_date
    for number, period in enumerate(periods, start=1):
        steps.append(_step(number, start, period, inputs, rules))
        start = start + timedelta(days=period.days or 0)
    warnings = inputs.extra_warnings + plan_warnings(
        inputs.request, inputs.courses, baseline, periods, steps, rules
    )
    visits = follow_up_visits(steps, rules)
    summary = plan_summary(inputs.request, inputs.courses, inputs.paces, periods, [baseline, *steps], rules)
    return TaperPlan(
        request=inputs.request,
        paces=tuple(inputs.paces[i] for i in sorted(inputs.paces)),
        baseline=baseline,
        steps=tuple(steps),
        warnings=warnings,
        follow_ups=visits,
        summary=summary,
        rules_version=rules.version,
        history=inputs.history,
    )
