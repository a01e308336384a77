"""Regimen -> taper plan: one drug at a time, in the agreed order, each at its own pace.

Several opioids are tapered one after another (long-acting first by default, or the patient's choice) so
that the patient never meets two changes at once; only when the request asks (`concurrent_changes`) do all
drugs step down together, each still on its own pace and with its own warnings. Percentages apply to each
drug's own original dose and MME is only summed, never used to convert between drugs (clinical-rules §4).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from taperwise.errors import RequestValidationError
from taperwise.taper.calendar import administrations, daily_doses, instalments, total_dispensed, total_mme
from taperwise.taper.concerns import pending_situations, plan_warnings
from taperwise.taper.courses import DrugCourse, ProductReader, default_reader, resolve_course, taper_order
from taperwise.taper.plan import HistoryEntry, Step, StepChange, TaperPlan, Warning
from taperwise.taper.request import RAPID_OVERRIDE, Pace, TaperRequest
from taperwise.taper.rules import TaperRules, load_rules
from taperwise.taper.stepping import Change, Dosing, in_wear_periods, initial_dosing, next_change
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
    hold_open: bool = False  # hold with no further change (referral, special situation)
    history: tuple[HistoryEntry, ...] = ()
    extra_warnings: tuple[Warning, ...] = field(default=())
    since_change: dict[int, int] = field(default_factory=dict)  # days each drug has been at its dose
    ready: dict[int, int] = field(default_factory=dict)  # day each drug's last change has had its time


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
    check_rapid(request, paces, rules)
    held = bool(pending_situations(request, rules))
    return build_plan(PlanInputs(request, courses, dosings, paces, request.start_date, hold_open=held), rules)


def check_rapid(request: TaperRequest, paces: Mapping[int, Pace], rules: TaperRules) -> None:
    """Steps of days after long-term use are refused unless the setting is supervised (R-3)."""
    rapid = rules.raw["rapid"]
    supervised = request.setting == "inpatient" or request.override(RAPID_OVERRIDE) is not None
    if supervised or request.opioid_use_days < int(rapid["refuse_from_use_days"]):
        return
    for index, pace in sorted(paces.items()):
        where = f"regimen[{index}].pace" if request.regimen[index].pace is not None else "pace"
        phase: Pace | None = pace
        while phase is not None:
            if phase.every_days < int(rapid["below_days"]):
                raise RequestValidationError(
                    f"{where}.every_days",
                    rules.refusal(
                        "rapid_taper",
                        days=str(phase.every_days),
                        use_days=str(request.opioid_use_days),
                        below=str(rapid["below_days"]),
                        key=RAPID_OVERRIDE,
                    ),
                )
            phase, where = phase.then, f"{where}.then"


def resolve_courses(request: TaperRequest, rules: TaperRules, read: ProductReader) -> dict[int, DrugCourse]:
    return {
        i: resolve_course(i, item, rules, read, request.market, request.patient_factors)
        for i, item in enumerate(request.regimen)
    }


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
    for i, course in courses.items():
        pace = request.regimen[i].pace or request.pace
        if pace is None:
            rule_id, raw = rules.default_pace(request.opioid_use_days, course.spec.ingredient)
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
    Within a group each drug's next change falls due once its last change has had the time it earns at
    the agreed pace; changes due on the same day form one step. A drug's final stop, which has no time
    after it, is paid for before it: the last dose is kept for at least the time the change into it and
    the stop together need at the agreed pace (and never less than the change into it earned), so no
    window of the plan, its end included, goes faster than agreed. The next group starts when this one
    has no change left.
    """
    current = dict(inputs.dosings)
    if inputs.hold_open:
        return [Period(dict(current), None, "hold")]
    starts: list[tuple[int, Period]] = []
    day = inputs.hold_days or 0
    origin = {i: -inputs.since_change.get(i, 0) for i in inputs.courses}  # since each is at its dose
    paid = {i: inputs.ready.get(i, origin[i]) for i in inputs.courses}  # its last change has had its time
    before: dict[int, tuple[int, Change]] = {}  # each drug's last change in this plan
    log: list[tuple[int, int, Change]] = []
    order = taper_order(inputs.request, inputs.courses)
    groups = [order] if inputs.request.concurrent_changes else [[index] for index in order]
    for group in groups:
        due = {index: max(day, inputs.ready.get(index, day)) for index in group}
        while due:
            day = min(due.values())
            applied: list[tuple[int, Change]] = []
            for index in [i for i in group if due.get(i) == day]:
                course, pace = inputs.courses[index], inputs.paces[index]
                change = next_change(course, current[index], pace, rules, _goal_check(inputs, index, current))
                if change is None:
                    del due[index]
                    continue
                ready = _stop_ready(
                    inputs.courses[index], change, paid[index], origin[index], before.get(index)
                )
                if ready > day:
                    due[index] = ready  # stay at the last dose until the stop is earned
                    continue
                current[index] = change.dosing
                applied.append((index, change))
                log.append((day, index, change))
                before[index] = (day, change)
                paid[index] = due[index] = day + change.days
            if applied:
                _check_length(day, len(starts), rules)
                starts.append((day, Period(dict(current), None, _step_kind(applied), tuple(applied))))
    if not starts or starts[0][0] > 0:  # the doses in force are held until the first change is due
        starts.insert(0, (0, Period(dict(inputs.dosings), None, "hold")))
    real = _real_intervals(log, inputs)
    ends = [start for start, _ in starts[1:]] + [None]
    return [
        Period(
            period.dosings,
            None if end is None else end - start,
            period.kind,
            tuple((index, real[(start, index)]) for index, _ in period.changes),
        )
        for (start, period), end in zip(starts, ends, strict=True)
    ]


def _stop_ready(
    course: DrugCourse, change: Change, paid: int, origin: int, before: tuple[int, Change] | None
) -> int:
    """The first day a change may be made: for a final stop, once the last dose has been kept long
    enough for the change into it and the stop together (with the change into it in an earlier plan —
    after a follow-up — the stop earns its interval after that change has had its own time, so re-planning
    never makes the end faster); any other change, when due."""
    if change.kind != "stop":
        return paid
    if before is None:  # the change into this dose, if any, was in an earlier plan: it has had its time at
        return max(paid, origin) + change.days  # `paid`, and the stop still earns its own after that
    day, previous = before
    return max(paid, day + in_wear_periods(course, math.ceil(previous.needed + change.needed)))


def _real_intervals(log: list[tuple[int, int, Change]], inputs: PlanInputs) -> dict[tuple[int, int], Change]:
    """Each change with its real interval: the days until the drug's next change, or for its last change
    the days it earned; a stop's interval is the days the last dose was kept before it."""
    out: dict[tuple[int, int], Change] = {}
    for index in {index for _, index, _ in log}:
        mine = [(day, change) for day, i, change in log if i == index]
        previous = -inputs.since_change.get(index, 0)
        for k, (day, change) in enumerate(mine):
            if change.kind == "stop":
                days = day - previous
            elif k + 1 < len(mine):
                days = mine[k + 1][0] - day
            else:
                days = change.days
            out[(day, index)] = replace(change, days=days, lengthened=days > change.every_days)
            previous = day
    return out


def _check_length(day: int, steps: int, rules: TaperRules) -> None:
    limits = rules.limits
    if day > limits.max_plan_days or steps > limits.max_steps:
        raise RequestValidationError(
            "pace",
            f"at this pace the plan would last more than {limits.max_plan_days} days or "
            f"{limits.max_steps} steps: choose a faster pace (about 10% of the original dose per month is "
            "the usual long-term pace) or a dose-reduction goal",
        )


def _step_kind(applied: list[tuple[int, Change]]) -> str:
    """A step's kind: a reduction if any drug is reduced, else an interval extension, else a stop."""
    kinds = {change.kind for _, change in applied}
    return next(kind for kind in ("reduction", "interval_extension", "stop") if kind in kinds)


def _step(number: int, start: date, period: Period, inputs: PlanInputs, rules: TaperRules) -> Step:
    courses = inputs.courses
    end = None if period.days is None else start + timedelta(days=period.days - 1)
    supply_days = period.days or rules.days("dispense", "maintenance_days")
    admins = tuple(a for i in sorted(courses) for a in administrations(courses[i], period.dosings[i]))
    request = inputs.request
    max_days = request.max_days_per_dispense or rules.max_days_per_instalment(request.market)
    if inputs.hold_open:  # held for a review (suicide risk, OUD, pregnancy): a week at a time
        max_days = min(max_days, rules.days("dispense", "held_max_days"))
    parts = instalments(courses, period.dosings, start, supply_days, max_days)
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
        dispense=total_dispensed(parts),
        instalments=parts,
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
        inputs.request, inputs.courses, periods, [baseline, *steps], rules
    )
    visits = follow_up_visits(steps, inputs.courses, rules)
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
