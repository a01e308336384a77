"""Adapting a plan after a follow-up: a decision (`taper.decisions`), then the rest re-planned.

The remaining plan is re-computed from the doses actually taken
(never above the plan: a taper does not increase a dose, except the clinician's named return to the
previous step's dose), percentages still of the *original* dose, and the decision, its rule, its reason and
the superseded steps are kept in the plan's history.

Two things hold whatever the table says. A referral (or a special-situation hold) is sticky: it ends only
when a follow-up records the specialist's review with a decision to resume. And the agreed pace stays a
ceiling across plans: the next change never comes before the last one has had the time it earned, and a
pause counts from the end of the step in force, never from the day of the visit.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from taperwise.errors import RequestValidationError
from taperwise.taper.concerns import pending_situations
from taperwise.taper.courses import DrugCourse, ProductReader, default_reader
from taperwise.taper.decisions import ENDS_HOLD, Decision, alerts, decide, held_rules, referral_open
from taperwise.taper.engine import PlanInputs, build_plan, check_rapid, resolve_courses
from taperwise.taper.followup import FollowUp, SpecialistReview
from taperwise.taper.jsonvalues import plain
from taperwise.taper.plan import HistoryEntry, Step, TaperPlan, Warning
from taperwise.taper.readplan import read_plan
from taperwise.taper.replanning import (
    Timing,
    below_plan,
    current_doses,
    dosing_at,
    in_force,
    self_reduction,
    timing_after,
)
from taperwise.taper.request import ClinicianReason, Pace, TaperRequest
from taperwise.taper.rules import TaperRules, load_rules
from taperwise.taper.safety import make_warning

__all__ = ["Decision", "FollowUp", "adapt_plan", "decide"]


def _resumed_request(
    request: TaperRequest, review: SpecialistReview | None, rules: TaperRules
) -> TaperRequest:
    """After a specialist review that resumes the taper, the special situations it covered carry the
    specialist's name and decision as their recorded reason, so the next visit does not hold again."""
    if review is None or review.decision not in ENDS_HOLD:
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
        _, previous = in_force(plan, follow_up.date - timedelta(days=1))
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
    held = held_rules(rules)
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


def adapt_plan(
    plan: TaperPlan | dict[str, Any],
    follow_up: FollowUp | dict[str, Any],
    *,
    read_product: ProductReader | None = None,
) -> TaperPlan:
    """The plan after a follow-up: decision from the table, remaining steps re-computed, history kept."""
    rules = load_rules()
    plan = plan if isinstance(plan, TaperPlan) else read_plan(plan, rules)
    follow_up = follow_up if isinstance(follow_up, FollowUp) else FollowUp.from_dict(follow_up)
    if follow_up.date < plan.baseline.start_date:
        raise RequestValidationError(
            "follow_up.date", f"is before the plan starts ({plan.baseline.start_date})"
        )
    _check_review(plan, follow_up, rules)
    decision = decide(plan, follow_up, rules)
    courses = resolve_courses(plan.request, rules, read_product or default_reader())
    _check_doses(plan, courses)
    unknown = sorted(set(follow_up.doses_taken) - set(courses))
    if unknown:
        raise RequestValidationError(
            "follow_up.doses_taken", f"regimen index {unknown[0]} is not in the plan"
        )
    current = current_doses(plan, follow_up, courses, rules)
    dosings, warnings = current.dosings, list(current.warnings)
    paces = plan.paces
    if decision.decision in ("slow", "step_back"):
        multiplier, cap = rules.days("adaptation", "slow_interval_multiplier"), rules.limits.max_every_days
        paces = tuple(p.slowed(multiplier, cap) for p in paces)
    if decision.decision == "step_back":
        _, previous = in_force(plan, follow_up.date - timedelta(days=1))
        dosings = {index: dosing_at(previous, course) for index, course in courses.items()}
    timing = self_reduction(timing_after(plan, follow_up, decision, paces, rules), current, courses, paces)
    warnings += below_plan(plan, follow_up, current, courses, timing, rules)
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
        opioid_use_days=min(plan.request.opioid_use_days + max(elapsed, 0), rules.limits.max_opioid_use_days),
    )
    try:
        check_rapid(request, dict(enumerate(paces)), rules)
    except RequestValidationError as exc:  # the plan's own paces, now after long-term use
        raise RequestValidationError("plan.paces", exc.problem) from exc
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
    try:
        return build_plan(inputs, rules)
    except RequestValidationError as exc:
        if exc.field != "pace":
            raise
        raise RequestValidationError(
            "plan.paces",
            f"after this follow-up {exc.problem.split(': ')[0]}: the taper has been paused or slowed so "
            "often that the rest is too long to plan; agree a new plan from the doses taken now "
            "(taperwise taper plan)",
        ) from exc


def _check_review(plan: TaperPlan, follow_up: FollowUp, rules: TaperRules) -> None:
    """A specialist's review must come after what it reviews: the referral, or the held plan's start."""
    review = follow_up.specialist_review
    if review is None or not referral_open(plan, rules):
        return
    opened = plan.baseline.start_date
    for entry in reversed(plan.history):
        if entry.decision != "refer":
            break
        opened = entry.date
    if not plan.history or plan.history[-1].decision != "refer":  # a special-situation hold
        starts = [Step.from_dict(raw).start_date for e in plan.history for raw in e.superseded_steps]
        opened = min([plan.baseline.start_date, *starts])
    if review.date < opened:
        raise RequestValidationError(
            "follow_up.specialist_review.date", f"is before the hold it reviews began ({opened.isoformat()})"
        )


def _check_doses(plan: TaperPlan, courses: dict[int, DrugCourse]) -> None:
    """The doses of a saved plan are whole units of the drug's strengths, never above its original dose
    (a plan file is input: an edited dose is refused, not tapered from)."""
    for where, step in [("plan.baseline", plan.baseline)] + [
        (f"plan.steps[{i}]", s) for i, s in enumerate(plan.steps)
    ]:
        for admin in step.administrations:
            course = courses[admin.regimen_index]
            dose = admin.dose
            if not (
                dose.is_finite() and 0 < dose <= max(course.original) and course.strengths.achievable(dose)
            ):
                shown = plain(dose) if dose.is_finite() else str(dose)
                raise RequestValidationError(
                    f"{where}.administrations",
                    f"a dose of {shown} {course.dose_unit} is not one this plan can hold "
                    f"({course.describe_units()}, at most the original dose)",
                )
