"""Reading a saved plan back before adapting it: a plan file is input like any other.

`taperwise taper adapt` starts from a JSON file that anyone can edit. Before the engine relies on it, the
plan must be one this engine wrote (its format id), its request must pass the same validation as a new
request, its paces must match its regimen, and its steps must be a well-formed timeline (contiguous
dates, known kinds, administrations of drugs in the regimen, no more of them than a schedule has).
Every refusal is a RequestValidationError whose field starts with ``plan``, so the command names the
plan file and not the follow-up.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from taperwise.errors import RequestValidationError
from taperwise.taper.followup import FollowUp
from taperwise.taper.jsonvalues import PlanValueError
from taperwise.taper.pace import Pace
from taperwise.taper.plan import PLAN_FORMAT, Step, TaperPlan
from taperwise.taper.rules import TaperRules

STEP_KINDS = ("reduction", "interval_extension", "stop", "hold")
_PATCH = re.compile(r"patch, changed every \d{1,3} hours")
DECISIONS = ("continue", "pause", "slow", "step_back", "refer")
_MAX_INTERVAL = 3653  # days: a plan is at most 10 years (rules.json limits)


def read_plan(raw: Any, rules: TaperRules) -> TaperPlan:
    """A TaperPlan from its JSON, checked; RequestValidationError naming `plan.<field>` otherwise."""
    if not isinstance(raw, dict):
        raise RequestValidationError("plan", "must be a taper plan (a JSON object)")
    if raw.get("format") != PLAN_FORMAT:
        raise RequestValidationError(
            "plan.format", f"must be {PLAN_FORMAT!r}: this is not a plan taperwise wrote"
        )
    try:
        plan = TaperPlan.from_dict(raw)
    except RequestValidationError as exc:  # the request's fields are top-level names, the paces' "paces[i]"
        inner = exc.field if exc.field.startswith("paces") else f"request.{exc.field}"
        raise RequestValidationError(f"plan.{inner}", exc.problem) from exc
    except KeyError as exc:
        raise RequestValidationError(
            "plan", f"is not a readable taper plan: field {str(exc)[:40]} is missing"
        ) from exc
    except PlanValueError as exc:
        raise RequestValidationError("plan", f"is not a readable taper plan: {exc}") from exc
    except (TypeError, ValueError, ArithmeticError, AttributeError, RecursionError) as exc:
        raise RequestValidationError(
            "plan", "is not a readable taper plan: a value has the wrong type or is out of range"
        ) from exc
    _check_paces(plan)
    _check_steps(plan, rules)
    _check_history(plan)
    return plan


def _check_history(plan: TaperPlan) -> None:
    """Each entry a known decision, its follow-up one the engine accepts, its superseded steps steps."""
    for i, entry in enumerate(plan.history):
        where = f"plan.history[{i}]"
        if entry.decision not in DECISIONS:
            raise RequestValidationError(f"{where}.decision", f"must be one of {', '.join(DECISIONS)}")
        try:
            FollowUp.from_dict(entry.follow_up)
        except RequestValidationError as exc:
            raise RequestValidationError(f"{where}.{exc.field}", exc.problem) from exc
        for j, raw in enumerate(entry.superseded_steps):
            try:
                step = Step.from_dict(raw)
            except PlanValueError as exc:
                raise RequestValidationError(
                    f"{where}.superseded_steps[{j}]", f"is not a readable step: {exc}"
                ) from exc
            except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError) as exc:
                raise RequestValidationError(
                    f"{where}.superseded_steps[{j}]", "is not a readable step"
                ) from exc
            _check_intervals(f"{where}.superseded_steps[{j}]", step)


def _check_intervals(where: str, step: Step) -> None:
    for change in step.changes:
        if not 1 <= change.interval_days <= _MAX_INTERVAL:
            raise RequestValidationError(f"{where}.changes", f"interval_days must be 1 to {_MAX_INTERVAL}")
    if step.interval_days is not None and not 1 <= step.interval_days <= _MAX_INTERVAL:
        raise RequestValidationError(f"{where}.interval_days", f"must be 1 to {_MAX_INTERVAL}")


def _check_paces(plan: TaperPlan) -> None:
    if len(plan.paces) != len(plan.request.regimen):
        raise RequestValidationError(
            "plan.paces", f"has {len(plan.paces)} paces for {len(plan.request.regimen)} drugs in the regimen"
        )
    for i, pace in enumerate(plan.paces):
        if not isinstance(pace, Pace):
            raise RequestValidationError(f"plan.paces[{i}]", "is not a pace")


def _check_steps(plan: TaperPlan, rules: TaperRules) -> None:
    if not plan.steps:
        raise RequestValidationError("plan.steps", "must list at least one step")
    drugs = len(plan.request.regimen)
    for where, step in [("plan.baseline", plan.baseline)] + [
        (f"plan.steps[{i}]", s) for i, s in enumerate(plan.steps)
    ]:
        if where != "plan.baseline" and step.kind not in STEP_KINDS:
            raise RequestValidationError(f"{where}.kind", f"must be one of {', '.join(STEP_KINDS)}")
        if step.end_date is not None and step.end_date < step.start_date:
            raise RequestValidationError(f"{where}.end_date", "is before its start_date")
        if where != "plan.baseline":
            _check_intervals(where, step)
        times: dict[int, list[str]] = {}
        for admin in step.administrations:
            if not 0 <= admin.regimen_index < drugs:
                raise RequestValidationError(
                    f"{where}.administrations",
                    f"names regimen index {admin.regimen_index}, not in the regimen",
                )
            times.setdefault(admin.regimen_index, []).append(admin.time)
        for index, given in times.items():
            _check_times(f"{where}.administrations", index, given, rules)
    if plan.steps[0].start_date != plan.baseline.start_date:
        raise RequestValidationError("plan.steps[0].start_date", "must be the baseline's start_date")
    for i, (before, after) in enumerate(zip(plan.steps, plan.steps[1:], strict=False), start=1):
        if before.end_date is None or after.start_date != before.end_date + timedelta(days=1):
            raise RequestValidationError(f"plan.steps[{i}].start_date", "must follow the step before it")
    if plan.steps[-1].end_date is not None:
        raise RequestValidationError(
            f"plan.steps[{len(plan.steps) - 1}].end_date", "the last step has no end"
        )


def _check_times(where: str, index: int, given: list[str], rules: TaperRules) -> None:
    """A drug's administrations are one patch, or the times of day of a schedule the rules know."""
    if len(given) == 1 and _PATCH.fullmatch(given[0]):
        return
    if len(given) > rules.max_times_per_day:
        raise RequestValidationError(
            where, f"has more than {rules.max_times_per_day} administrations of one drug"
        )
    if tuple(given) != rules.schedule(len(given)).times:
        raise RequestValidationError(
            where,
            f"the times of regimen index {index} are not a schedule of {len(given)} a day this engine writes",
        )
