"""Regimen -> taper plan: one drug at a time, in the agreed order, each at its own pace.

Several opioids are tapered one after another (long-acting first by default, or the patient's choice) so
that the patient never meets two changes at once; only when the request asks (`concurrent_changes`) do all
drugs step down together, each still on its own pace and with its own warnings. Percentages apply to each
drug's own original dose and MME is only summed, never used to convert between drugs (clinical-rules §4).
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
from taperwise.taper.plan import HistoryEntry, Step, StepChange, TaperPlan, Warning
from taperwise.taper.request import Pace, TaperRequest
from taperwise.taper.rules import TaperRules, load_rules
from taperwise.taper.safety import plan_warnings
from taperwise.taper.stepping import Change, Dosing, initial_dosing, next_change
from taperwise.taper.visits import follow_up_visits, plan_summary


@dataclass(frozen=True)
class Period:
    """One period of the timeline before dates are attached: the doses in force, how long, and the
    change(s) that started it (one drug at a time unless concurrent changes were asked for)."""

    dosings: dict[int, Dosing]
    days: int | None
    kind: str
    changes: tuple[tuple[int, Change], ...] = ()

    @property
    def changed(self) -> int | None:
        return self.changes[0][0] if self.changes else None

    @property
    def change(self) -> Change | None:
        return self.changes[0][1] if self.changes else None


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
    return {i: resolve_course(i, item, rules, read, request.market) for i, item in enumerate(request.regimen)}


def choose_paces(
    request: TaperRequest, courses: Mapping[int, DrugCourse], rules: TaperRules
) -> dict[int, Pace]:
    """Each drug's pace: its own, else the request's, else the default for the duration of use."""
    if request.pace is not None and request.pace.unit == "absolute":
        units = {course.dose_unit for i, course in courses.items() if request.regimen[i].pace is None}
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
    """The periods of the plan: an optional hold, then each group of drugs tapered to its end.

    A group is one drug (the default: one at a time, in taper order) or every drug (`concurrent_changes`).
    Within a group each drug's next change falls due one of its own intervals after its last; changes due
    on the same day form one step. The next group starts when the last drug of this one has no change left.
    """
    current = dict(inputs.dosings)
    if inputs.hold_open:
        return [Period(dict(current), None, "hold")]
    starts: list[tuple[int, Period]] = []
    day = inputs.hold_days or 0
    if inputs.hold_days:
        starts.append((0, Period(dict(current), None, "hold")))
    order = taper_order(inputs.request, inputs.courses)
    groups = [order] if inputs.request.concurrent_changes else [[index] for index in order]
    for group in groups:
        due = dict.fromkeys(group, day)
        while due:
            day = min(due.values())
            applied: list[tuple[int, Change]] = []
            for index in [i for i in group if due.get(i) == day]:
                course, pace = inputs.courses[index], inputs.paces[index]
                change = next_change(course, current[index], pace, rules, _goal_check(inputs, index, current))
                if change is None:
                    del due[index]
                    continue
                current[index] = change.dosing
                applied.append((index, change))
                due[index] = day + change.days
            if applied:
                starts.append((day, Period(dict(current), None, _step_kind(applied), tuple(applied))))
    if not starts:
        starts.append((0, Period(dict(current), None, "hold")))
    ends = [start for start, _ in starts[1:]] + [None]
    return [
        Period(period.dosings, None if end is None else end - start, period.kind, period.changes)
        for (start, period), end in zip(starts, ends, strict=True)
    ]


def _step_kind(applied: list[tuple[int, Change]]) -> str:
    """A step's kind: a reduction if any drug is reduced, else an interval extension, else a stop."""
    kinds = {change.kind for _, change in applied}
    return next(kind for kind in ("reduction", "interval_extension", "stop") if kind in kinds)


def _step(number: int, start: date, period: Period, inputs: PlanInputs, rules: TaperRules) -> Step:
    courses = inputs.courses
    end = None if period.days is None else start + timedelta(days=period.days - 1)
    supply_days = period.days or rules.days("dispense", "maintenance_days")
    admins = tuple(a for i in sorted(courses) for a in administrations(courses[i], period.dosings[i]))
    lines = tuple(
        line for i in sorted(courses) for line in dispense(courses[i], period.dosings[i], supply_days)
    )
    change = period.change
    changes = tuple(
        StepChange(
            index,
            each.kind,
            _schedule_text(inputs, index, period.dosings[index].times, rules),
            each.days,
            each.requested,
            each.achieved,
        )
        for index, each in period.changes
    )
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
        schedule=changes[0].schedule if changes else "unchanged",
        changes=changes,
    )


def _schedule_text(inputs: PlanInputs, index: int, times: tuple[str, ...], rules: TaperRules) -> str:
    course = inputs.courses[index]
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
