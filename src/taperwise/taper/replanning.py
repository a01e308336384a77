"""Where a follow-up leaves the patient: the doses in force and when each drug may next change.

The doses are those taken, capped at the plan's (a taper never increases a dose); a reduction the patient
made before the visit is paced like any other change; and the next change never comes before the last one
has had the time it earned, a pause counting from the end of the step in force.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal

from taperwise.errors import RequestValidationError
from taperwise.taper.courses import DrugCourse
from taperwise.taper.decisions import Decision
from taperwise.taper.followup import FollowUp
from taperwise.taper.jsonvalues import plain
from taperwise.taper.plan import Step, TaperPlan, Warning
from taperwise.taper.request import Pace
from taperwise.taper.rules import TaperRules
from taperwise.taper.safety import make_warning
from taperwise.taper.stepping import Dosing, earned_days, patch_time


def dosing_at(step: Step, course: DrugCourse) -> Dosing:
    mine = [a for a in step.administrations if a.regimen_index == course.index]
    return Dosing(tuple(a.time for a in mine), tuple(a.dose for a in mine))


def taken_dosing(
    course: DrugCourse, planned: Dosing, taken: tuple[Decimal, ...], rules: TaperRules
) -> Dosing:
    path = f"follow_up.doses_taken[regimen_index={course.index}]"
    for j, dose in enumerate(taken):
        if dose <= max(course.original) and not course.strengths.achievable(dose):
            raise RequestValidationError(
                f"{path}.doses[{j}]",
                f"{plain(dose)} {course.dose_unit} is not {course.describe_units()}",
            )
    if len(taken) > rules.max_times_per_day or (course.is_patch and len(taken) > 1):
        raise RequestValidationError(f"{path}.doses", "more administrations than the plan has")
    if course.is_patch:
        return Dosing((patch_time(course),) * len(taken), taken)
    times = (
        planned.times
        if len(taken) == len(planned.times)
        else rules.schedule(len(taken)).times
        if taken
        else ()
    )
    return Dosing(times, taken)


def in_force(plan: TaperPlan, day: date) -> tuple[Step, Step]:
    """The step in force on `day` and the one before it (the baseline when it is the first)."""
    steps = [plan.baseline, *plan.steps]
    for number in range(len(steps) - 1, 0, -1):
        if steps[number].covers(day):
            return steps[number], steps[number - 1]
    return plan.baseline, plan.baseline


@dataclass(frozen=True)
class Current:
    """The doses in force from the follow-up on, what the visit's reports raise, and how far each drug
    was reduced below the plan by the patient (a change made before the visit, paced like any other)."""

    dosings: dict[int, Dosing]
    warnings: list[Warning]
    self_reduced: dict[int, Decimal]


def current_doses(
    plan: TaperPlan, follow_up: FollowUp, courses: dict[int, DrugCourse], rules: TaperRules
) -> Current:
    """Doses in force from the follow-up on: those taken, capped at the plan's (never an increase)."""
    ceiling_step, _ = in_force(plan, follow_up.date - timedelta(days=1))
    dosings, warnings, lower = {}, [], {}
    for index, course in courses.items():
        planned = dosing_at(ceiling_step, course)
        if index not in follow_up.doses_taken:
            dosings[index] = planned
            continue
        taken = taken_dosing(course, planned, follow_up.doses_taken[index], rules)
        if taken.daily < planned.daily:
            lower[index] = planned.daily - taken.daily
            if taken.stopped:
                warnings.append(
                    make_warning(rules, "stopped_abruptly", drug_index=index, drug=course.drug,
                                 planned=f"{doses_text(planned)} {course.dose_unit}")
                )  # fmt: skip
        above = taken.daily > planned.daily or (
            len(taken.doses) == len(planned.doses)
            and any(t > p for t, p in zip(taken.doses, planned.doses, strict=True))
        )
        if above:
            warnings.append(
                make_warning(
                    rules,
                    "taken_above_plan",
                    drug_index=index,
                    drug=course.drug,
                    taken=doses_text(taken),
                    planned=doses_text(planned),
                )
            )
        dosings[index] = planned if above else taken
    return Current(dosings, warnings, lower)


def doses_text(dosing: Dosing) -> str:
    return " + ".join(plain(d) for d in dosing.doses) or "none"


@dataclass(frozen=True)
class Timing:
    """When the re-planned changes may come, in days from the follow-up."""

    hold_days: int | None  # every drug held at least this long
    ready: dict[int, int]  # each drug's earliest next change: when its last change has had its time
    since_change: dict[int, int]  # days each drug has been at its dose (a stop is earned before it)


def last_changes(plan: TaperPlan, before: date) -> dict[int, tuple[date, int]]:
    """Each drug's last change before `before` (this plan's steps and the superseded ones): its date and
    the interval it was given."""
    steps = [Step.from_dict(raw) for entry in plan.history for raw in entry.superseded_steps]
    out: dict[int, tuple[date, int]] = {}
    for step in [*steps, *plan.steps]:
        if step.start_date >= before:
            continue
        for change in step.changes:
            known = out.get(change.regimen_index)
            if known is None or step.start_date >= known[0]:
                out[change.regimen_index] = (step.start_date, change.interval_days)
    return out


def timing_after(
    plan: TaperPlan, follow_up: FollowUp, decision: Decision, paces: tuple[Pace, ...], rules: TaperRules
) -> Timing:
    visit = follow_up.date
    first = min(
        [
            plan.baseline.start_date,
            *(Step.from_dict(s).start_date for e in plan.history for s in e.superseded_steps),
        ]
    )
    last = last_changes(plan, visit)
    indexes = range(len(plan.request.regimen))
    since = {i: (visit - last[i][0]).days if i in last else (visit - first).days for i in indexes}
    # each drug's next change as planned (it already counts what the last change and a stop earned), else
    # the end of the time its last change earned
    ready = {i: (last[i][0] + timedelta(days=last[i][1]) - visit).days for i in last}
    for step in reversed(plan.steps):
        if step.start_date >= visit:
            ready.update({c.regimen_index: (step.start_date - visit).days for c in step.changes})
    upcoming = [s.start_date for s in plan.steps if s.start_date >= visit and s.changes]
    next_change = max((upcoming[0] - visit).days, 0) if upcoming else 0
    pause = rules.days("adaptation", "pause_days")
    if decision.decision == "pause":
        return Timing(next_change + pause, ready, since)
    if decision.decision == "slow":
        return Timing(max(next_change, min(p.every_days for p in paces)), ready, since)
    if decision.decision == "step_back":
        return Timing(pause, {}, dict.fromkeys(indexes, 0))
    return Timing(None, ready, since)


def self_reduction(
    timing: Timing, current: Current, courses: dict[int, DrugCourse], paces: tuple[Pace, ...]
) -> Timing:
    """A reduction the patient made before the visit is a change like any other: the drug's next change
    waits the time it earns at the agreed pace, counted from the visit (the latest it can have been)."""
    ready, since = dict(timing.ready), dict(timing.since_change)
    for index, amount in current.self_reduced.items():
        course, dosing = courses[index], current.dosings[index]
        if dosing.stopped:
            continue
        phase = paces[index].phase_at(course.original_daily, dosing.daily + amount)
        requested = phase.requested_step(course.original_daily, dosing.daily + amount)
        ready[index] = max(ready.get(index, 0), earned_days(amount, requested, phase.every_days))
        since[index] = 0
    return replace(timing, ready=ready, since_change=since)


def below_plan(
    plan: TaperPlan,
    follow_up: FollowUp,
    current: Current,
    courses: dict[int, DrugCourse],
    timing: Timing,
    rules: TaperRules,
) -> list[Warning]:
    ceiling_step, _ = in_force(plan, follow_up.date - timedelta(days=1))
    out = []
    for index in sorted(current.self_reduced):
        course, dosing = courses[index], current.dosings[index]
        if dosing.stopped:
            continue
        planned = dosing_at(ceiling_step, course)
        taken, was = f"{doses_text(dosing)} {course.dose_unit}", f"{doses_text(planned)} {course.dose_unit}"
        days = timing.ready.get(index, 0)
        out.append(
            make_warning(rules, "taken_below_plan", drug_index=index, drug=course.drug, taken=taken,
                         planned=was, days=days)
        )  # fmt: skip
    return out
