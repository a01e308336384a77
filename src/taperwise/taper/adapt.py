"""Adapting a plan after a follow-up: a decision from the decision table, then the rest re-planned.

The table (``knowledge/data/taper/decisions.json``) is tried row by row; the first row that holds decides
continue, pause, slow, step back or refer. The remaining plan is re-computed from the doses actually taken
(never above the plan: a taper does not increase a dose, except the clinician's named return to the
previous step's dose), percentages still of the *original* dose, and the decision, its rule, its reason and
the superseded steps are kept in the plan's history.

Two things hold whatever the table says. A referral (or a special-situation hold) is sticky: it ends only
when a follow-up records the specialist's review with a decision to resume. And the agreed pace stays a
ceiling across plans: the next change never comes before the last one has had the time it earned, and a
pause counts from the end of the step in force, never from the day of the visit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from taperwise.errors import RequestValidationError
from taperwise.taper.concerns import pending_situations
from taperwise.taper.courses import DrugCourse, ProductReader, default_reader
from taperwise.taper.engine import PlanInputs, build_plan, resolve_courses
from taperwise.taper.followup import FollowUp, SpecialistReview
from taperwise.taper.jsonvalues import plain
from taperwise.taper.plan import HistoryEntry, Step, TaperPlan, Warning
from taperwise.taper.request import ClinicianReason, Pace, TaperRequest
from taperwise.taper.rules import TaperRules, load_rules
from taperwise.taper.safety import make_warning
from taperwise.taper.stepping import Dosing, earned_days, patch_time

__all__ = ["Decision", "FollowUp", "adapt_plan", "decide"]

_ENDS_HOLD = ("resume", "slow")  # specialist decisions that end a referral hold


@dataclass(frozen=True)
class Decision:
    decision: str  # continue | pause | slow | step_back | refer
    rule: str
    reason: str
    source: str
    facts: dict[str, Any]


def referral_open(plan: TaperPlan, rules: TaperRules) -> bool:
    """Whether the plan holds the dose for a specialist: the last follow-up referred, or a special
    situation has no recorded reason to taper."""
    referred = bool(plan.history) and plan.history[-1].decision == "refer"
    return referred or bool(pending_situations(plan.request, rules))


def _facts(plan: TaperPlan, follow_up: FollowUp, rules: TaperRules) -> dict[str, Any]:
    reference = plan.request.patient_factors.peg
    for entry in plan.history:
        if entry.follow_up.get("peg") is not None:
            reference = Decimal(str(entry.follow_up["peg"]))
    worse = None
    if follow_up.peg is not None and reference is not None:
        worse = (
            (follow_up.peg - reference) / reference * 100
            if reference
            else Decimal(100 if follow_up.peg else 0)
        )
    review = follow_up.specialist_review
    ended = review is not None and review.decision in _ENDS_HOLD
    return {
        "cows": follow_up.cows,
        "sows": follow_up.sows,
        "peg": follow_up.peg,
        "peg_worse_percent": worse,
        "phq9_item9": follow_up.phq9_item9,
        "oud_signs": follow_up.oud_signs,
        "preference": follow_up.preference,
        "previous_decision": plan.history[-1].decision if plan.history else None,
        "referral_open": referral_open(plan, rules) and not ended,
        "specialist_decision": review.decision if review is not None else None,
        "clinician_choice": "return_to_previous_dose" if follow_up.return_to_previous_dose else None,
    }


def _holds(condition: dict[str, Any], facts: dict[str, Any], named: dict[str, Any]) -> bool:
    if "always" in condition:
        return bool(condition["always"])
    if "all" in condition:
        return all(_holds(c, facts, named) for c in condition["all"])
    if "any" in condition:
        return any(_holds(c, facts, named) for c in condition["any"])
    if "condition" in condition:
        return _holds(named[condition["condition"]], facts, named)
    value, wanted = facts.get(condition["fact"]), condition["value"]
    if value is None:
        return False
    if condition["op"] == "==":
        return bool(value == wanted)
    if isinstance(value, bool) or isinstance(wanted, bool | str):
        return False
    number, limit = Decimal(str(value)), Decimal(str(wanted))
    return {">=": number >= limit, ">": number > limit, "<=": number <= limit, "<": number < limit}[
        condition["op"]
    ]


_OPEN_REFERRAL = {"fact": "referral_open", "op": "==", "value": True}


def decide(plan: TaperPlan, follow_up: FollowUp, rules: TaperRules | None = None) -> Decision:
    """The first decision-table row that holds for this follow-up (the last row always holds). An open
    referral stays a referral whatever the row: only a specialist review recorded at the visit ends it."""
    rules = rules or load_rules()
    table = rules.decisions
    facts = _facts(plan, follow_up, rules)
    row = next((row for row in table["rows"] if _holds(row["when"], facts, table["conditions"])), None)
    if row is None:
        raise RequestValidationError(
            "follow_up", "no decision-table row applies (the table must end with 'always')"
        )
    if facts["referral_open"] and row["decision"] != "refer":
        row = next(r for r in table["rows"] if r["when"] == _OPEN_REFERRAL)
    return Decision(row["decision"], row["id"], row["reason"], row["source"], facts)


def alerts(follow_up: FollowUp, decision: Decision, rules: TaperRules) -> list[Warning]:
    """Warnings the follow-up raises whatever the decision (decisions.json `alerts`)."""
    table = rules.decisions
    fields: dict[str, Any] = {
        "date": follow_up.date.isoformat(),
        "rule": decision.rule,
        "cows": follow_up.cows,
    }
    return [
        make_warning(rules, row["warning"], **fields)
        for row in table.get("alerts", [])
        if _holds(row["when"], decision.facts, table["conditions"])
    ]


def _dosing_at(step: Step, course: DrugCourse) -> Dosing:
    mine = [a for a in step.administrations if a.regimen_index == course.index]
    return Dosing(tuple(a.time for a in mine), tuple(a.dose for a in mine))


def _taken_dosing(
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


def _in_force(plan: TaperPlan, day: date) -> tuple[Step, Step]:
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


def _current(
    plan: TaperPlan, follow_up: FollowUp, courses: dict[int, DrugCourse], rules: TaperRules
) -> Current:
    """Doses in force from the follow-up on: those taken, capped at the plan's (never an increase)."""
    ceiling_step, _ = _in_force(plan, follow_up.date - timedelta(days=1))
    dosings, warnings, lower = {}, [], {}
    for index, course in courses.items():
        planned = _dosing_at(ceiling_step, course)
        if index not in follow_up.doses_taken:
            dosings[index] = planned
            continue
        taken = _taken_dosing(course, planned, follow_up.doses_taken[index], rules)
        if taken.daily < planned.daily:
            lower[index] = planned.daily - taken.daily
            if taken.stopped:
                warnings.append(
                    make_warning(rules, "stopped_abruptly", drug_index=index, drug=course.drug,
                                 planned=f"{_doses_text(planned)} {course.dose_unit}")
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
                    taken=_doses_text(taken),
                    planned=_doses_text(planned),
                )
            )
        dosings[index] = planned if above else taken
    return Current(dosings, warnings, lower)


def _doses_text(dosing: Dosing) -> str:
    return " + ".join(plain(d) for d in dosing.doses) or "none"


@dataclass(frozen=True)
class Timing:
    """When the re-planned changes may come, in days from the follow-up."""

    hold_days: int | None  # every drug held at least this long
    ready: dict[int, int]  # each drug's earliest next change: when its last change has had its time
    since_change: dict[int, int]  # days each drug has been at its dose (a stop is earned before it)


def _last_changes(plan: TaperPlan, before: date) -> dict[int, tuple[date, int]]:
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


def _timing(
    plan: TaperPlan, follow_up: FollowUp, decision: Decision, paces: tuple[Pace, ...], rules: TaperRules
) -> Timing:
    visit = follow_up.date
    first = min(
        [
            plan.baseline.start_date,
            *(Step.from_dict(s).start_date for e in plan.history for s in e.superseded_steps),
        ]
    )
    last = _last_changes(plan, visit)
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


def _self_reduction(
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


def _below_plan(
    plan: TaperPlan,
    follow_up: FollowUp,
    current: Current,
    courses: dict[int, DrugCourse],
    timing: Timing,
    rules: TaperRules,
) -> list[Warning]:
    ceiling_step, _ = _in_force(plan, follow_up.date - timedelta(days=1))
    out = []
    for index in sorted(current.self_reduced):
        course, dosing = courses[index], current.dosings[index]
        if dosing.stopped:
            continue
        planned = _dosing_at(ceiling_step, course)
        taken, was = f"{_doses_text(dosing)} {course.dose_unit}", f"{_doses_text(planned)} {course.dose_unit}"
        days = timing.ready.get(index, 0)
        out.append(
            make_warning(rules, "taken_below_plan", drug_index=index, drug=course.drug, taken=taken,
                         planned=was, days=days)
        )  # fmt: skip
    return out


def _resumed_request(
    request: TaperRequest, review: SpecialistReview | None, rules: TaperRules
) -> TaperRequest:
    """After a specialist review that resumes the taper, the special situations it covered carry the
    specialist's name and decision as their recorded reason, so the next visit does not hold again."""
    if review is None or review.decision not in _ENDS_HOLD:
        return request
    pending = pending_situations(request, rules)
    if not pending:
        return request
    table = rules.raw["special_situations"]
    reason = f"specialist review of {review.date.isoformat()}: {review.decision}" + (
        f"; {review.note}" if review.note else ""
    )
    added = {table[key]["override"]: ClinicianReason(review.by, reason[:500]) for key in pending}
    return replace(request, overrides={**request.overrides, **added})


def _notices(
    plan: TaperPlan,
    follow_up: FollowUp,
    decision: Decision,
    timing: Timing,
    paces: tuple[Pace, ...],
    rules: TaperRules,
) -> list[Warning]:
    """What the decision says on the new plan: paused until when, slowed to what, referred since when,
    the specialist's review, a return to the previous dose, and the follow-up's alerts."""
    fields: dict[str, Any] = {
        "date": follow_up.date.isoformat(),
        "rule": decision.rule,
        "reason": decision.reason,
    }
    until = (follow_up.date + timedelta(days=timing.hold_days or 0)).isoformat()
    out = alerts(follow_up, decision, rules)
    review = follow_up.specialist_review
    if review is not None:
        text = {
            "resume": "resume the taper",
            "slow": "resume the taper at half the rate",
            "hold": "keep holding the dose",
        }
        decided = text[review.decision] + (f" ({review.note})" if review.note else "")
        out.append(
            make_warning(
                rules,
                "specialist_review",
                date=fields["date"],
                by=review.by,
                reviewed=review.date.isoformat(),
                decision=decided,
            )
        )
    if decision.decision == "pause":
        out.append(make_warning(rules, "taper_paused", until=until, **fields))
    elif decision.decision == "slow":
        out.append(make_warning(rules, "taper_slowed", every_days=min(p.every_days for p in paces), **fields))
    elif decision.decision == "step_back" and follow_up.return_to_previous_dose is not None:
        back = follow_up.return_to_previous_dose
        _, previous = _in_force(plan, follow_up.date - timedelta(days=1))
        doses = "; ".join(a.describe() for a in previous.administrations) or "no opioid"
        out.append(
            make_warning(
                rules,
                "returned_to_previous_dose",
                date=fields["date"],
                by=back.by,
                reason=back.reason,
                doses=doses,
                until=until,
            )
        )
    elif decision.decision == "refer":
        out += _referred(plan, follow_up, decision, rules)
    return out


def _referred(plan: TaperPlan, follow_up: FollowUp, decision: Decision, rules: TaperRules) -> list[Warning]:
    """The referral warning, carried by every plan until the referral ends, naming the follow-up that
    opened it. A hold for a special situation alone says so in its own warning (special_situation_hold)."""
    held = _held_rules(rules)
    supply = rules.days("dispense", "held_max_days")
    if decision.rule not in held:  # a referral opened at this visit
        return [
            make_warning(
                rules,
                "referred",
                since=follow_up.date.isoformat(),
                rule=decision.rule,
                reason=decision.reason,
                supply=supply,
            )
        ]
    opening = None
    for entry in reversed(plan.history):
        if entry.decision != "refer":
            break
        if entry.rule not in held:
            opening = entry
    if opening is None:
        return []
    return [
        make_warning(
            rules,
            "referred",
            since=opening.date.isoformat(),
            rule=opening.rule,
            reason=opening.reason,
            supply=supply,
        )
    ]


def _held_rules(rules: TaperRules) -> set[str]:
    """Rows that keep an existing hold rather than open a referral (they mention referral_open)."""
    return {row["id"] for row in rules.decisions["rows"] if "referral_open" in str(row["when"])}


def adapt_plan(
    plan: TaperPlan | dict[str, Any],
    follow_up: FollowUp | dict[str, Any],
    *,
    read_product: ProductReader | None = None,
) -> TaperPlan:
    """The plan after a follow-up: decision from the table, remaining steps re-computed, history kept."""
    plan = plan if isinstance(plan, TaperPlan) else TaperPlan.from_dict(plan)
    follow_up = follow_up if isinstance(follow_up, FollowUp) else FollowUp.from_dict(follow_up)
    if follow_up.date < plan.baseline.start_date:
        raise RequestValidationError(
            "follow_up.date", f"is before the plan starts ({plan.baseline.start_date})"
        )
    rules = load_rules()
    decision = decide(plan, follow_up, rules)
    courses = resolve_courses(plan.request, rules, read_product or default_reader())
    unknown = sorted(set(follow_up.doses_taken) - set(courses))
    if unknown:
        raise RequestValidationError(
            "follow_up.doses_taken", f"regimen index {unknown[0]} is not in the plan"
        )
    current = _current(plan, follow_up, courses, rules)
    dosings, warnings = current.dosings, list(current.warnings)
    paces = plan.paces
    if decision.decision in ("slow", "step_back"):
        paces = tuple(p.slowed(rules.days("adaptation", "slow_interval_multiplier")) for p in paces)
    if decision.decision == "step_back":
        _, previous = _in_force(plan, follow_up.date - timedelta(days=1))
        dosings = {index: _dosing_at(previous, course) for index, course in courses.items()}
    timing = _self_reduction(_timing(plan, follow_up, decision, paces, rules), current, courses, paces)
    warnings += _below_plan(plan, follow_up, current, courses, timing, rules)
    entry = HistoryEntry(
        follow_up.date,
        decision.decision,
        decision.rule,
        decision.reason,
        follow_up.to_dict(),
        tuple(s.to_dict() for s in plan.steps if s.start_date < follow_up.date),
    )
    elapsed = (follow_up.date - plan.request.start_date).days
    request = replace(
        _resumed_request(plan.request, follow_up.specialist_review, rules),
        start_date=follow_up.date,
        opioid_use_days=plan.request.opioid_use_days + max(elapsed, 0),
    )
    notices = _notices(plan, follow_up, decision, timing, paces, rules)
    inputs = PlanInputs(
        request=request,
        courses=courses,
        dosings=dosings,
        paces=dict(enumerate(paces)),
        start_date=follow_up.date,
        hold_days=timing.hold_days,
        hold_open=decision.decision == "refer",
        history=(*plan.history, entry),
        extra_warnings=tuple(warnings) + tuple(notices),
        since_change=timing.since_change,
        ready=timing.ready,
    )
    return build_plan(inputs, rules)
