"""Adapting a plan after a follow-up: a decision from the decision table, then the rest re-planned.

The table (``knowledge/data/taper/decisions.json``) is tried row by row; the first row that holds decides
continue, pause, slow or refer. The remaining plan is re-computed from the doses actually taken (never
above the plan: a taper does not increase a dose), percentages still of the *original* dose, and the
decision, its rule, its reason and the superseded steps are kept in the plan's history.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from taperwise.errors import RequestValidationError
from taperwise.taper.courses import DrugCourse, ProductReader, default_reader
from taperwise.taper.engine import PlanInputs, build_plan, resolve_courses
from taperwise.taper.jsonvalues import (
    check_keys,
    optional_int,
    plain,
    read_bool,
    read_date,
    read_decimal,
    read_int,
    require,
    to_json_number,
)
from taperwise.taper.plan import HistoryEntry, Step, TaperPlan, Warning
from taperwise.taper.rules import TaperRules, load_rules
from taperwise.taper.safety import make_warning
from taperwise.taper.stepping import Dosing, patch_time

PREFERENCES = ("continue", "pause", "slow")


@dataclass(frozen=True)
class FollowUp:
    """What a follow-up visit recorded. `doses_taken` maps a regimen index to the doses per administration
    actually taken (an empty list: stopped); a drug not listed was taken as planned."""

    date: date
    doses_taken: dict[int, tuple[Decimal, ...]]
    cows: int | None = None
    sows: int | None = None
    peg: Decimal | None = None
    phq9_item9: int | None = None
    oud_signs: bool = False
    preference: str = "continue"
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "date": self.date.isoformat(),
            "doses_taken": [
                {"regimen_index": i, "doses": [to_json_number(d) for d in doses]}
                for i, doses in sorted(self.doses_taken.items())
            ],
            "oud_signs": self.oud_signs,
            "preference": self.preference,
        }
        for name in ("cows", "sows", "phq9_item9"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.peg is not None:
            out["peg"] = to_json_number(self.peg)
        if self.note:
            out["note"] = self.note
        return out

    @classmethod
    def from_dict(cls, raw: Any) -> FollowUp:
        keys = {"date", "doses_taken", "cows", "sows", "peg", "phq9_item9", "oud_signs", "preference", "note"}
        check_keys(raw, keys, "follow_up")
        preference = raw.get("preference", "continue")
        if preference not in PREFERENCES:
            raise RequestValidationError("follow_up.preference", f"must be one of {', '.join(PREFERENCES)}")
        return cls(
            date=read_date(require(raw, "date", "follow_up"), "follow_up.date"),
            doses_taken=_read_taken(raw.get("doses_taken") or []),
            cows=optional_int(raw, "cows", "follow_up", minimum=0, maximum=48),
            sows=optional_int(raw, "sows", "follow_up", minimum=0, maximum=64),
            peg=read_decimal(raw["peg"], "follow_up.peg", maximum=Decimal(10))
            if raw.get("peg") is not None
            else None,
            phq9_item9=optional_int(raw, "phq9_item9", "follow_up", minimum=0, maximum=3),
            oud_signs=read_bool(raw.get("oud_signs", False), "follow_up.oud_signs"),
            preference=preference,
            note=_read_note(raw.get("note")),
        )


def _read_note(value: Any) -> str:
    if value is not None and not isinstance(value, str):
        raise RequestValidationError("follow_up.note", "must be text")
    return value or ""


def _read_taken(raw: Any) -> dict[int, tuple[Decimal, ...]]:
    if not isinstance(raw, list):
        raise RequestValidationError("follow_up.doses_taken", "must be a list of {regimen_index, doses}")
    taken: dict[int, tuple[Decimal, ...]] = {}
    for i, entry in enumerate(raw):
        path = f"follow_up.doses_taken[{i}]"
        check_keys(entry, {"regimen_index", "doses"}, path)
        index = read_int(require(entry, "regimen_index", path), f"{path}.regimen_index", minimum=0)
        doses = require(entry, "doses", path)
        if not isinstance(doses, list):
            raise RequestValidationError(f"{path}.doses", "must be a list of doses per administration")
        taken[index] = tuple(
            read_decimal(d, f"{path}.doses[{j}]", positive=True) for j, d in enumerate(doses)
        )
    return taken


@dataclass(frozen=True)
class Decision:
    decision: str  # continue | pause | slow | refer
    rule: str
    reason: str
    source: str
    facts: dict[str, Any]


def _facts(plan: TaperPlan, follow_up: FollowUp) -> dict[str, Any]:
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
    return {
        "cows": follow_up.cows,
        "sows": follow_up.sows,
        "peg": follow_up.peg,
        "peg_worse_percent": worse,
        "phq9_item9": follow_up.phq9_item9,
        "oud_signs": follow_up.oud_signs,
        "preference": follow_up.preference,
        "previous_decision": plan.history[-1].decision if plan.history else None,
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


def decide(plan: TaperPlan, follow_up: FollowUp, rules: TaperRules | None = None) -> Decision:
    """The first decision-table row that holds for this follow-up (the last row always holds)."""
    table = (rules or load_rules()).decisions
    facts = _facts(plan, follow_up)
    for row in table["rows"]:
        if _holds(row["when"], facts, table["conditions"]):
            return Decision(row["decision"], row["id"], row["reason"], row["source"], facts)
    raise RequestValidationError(
        "follow_up", "no decision-table row applies (the table must end with 'always')"
    )


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


def _current(
    plan: TaperPlan, follow_up: FollowUp, courses: dict[int, DrugCourse], rules: TaperRules
) -> tuple[dict[int, Dosing], list[Warning]]:
    """Doses in force from the follow-up on: those taken, capped at the plan's (never an increase)."""
    before = follow_up.date - timedelta(days=1)
    ceiling_step = next((s for s in plan.steps if s.covers(before)), plan.baseline)
    dosings, warnings = {}, []
    for index, course in courses.items():
        planned = _dosing_at(ceiling_step, course)
        if index not in follow_up.doses_taken:
            dosings[index] = planned
            continue
        taken = _taken_dosing(course, planned, follow_up.doses_taken[index], rules)
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
    return dosings, warnings


def _doses_text(dosing: Dosing) -> str:
    return " + ".join(plain(d) for d in dosing.doses) or "none"


def _hold_days(plan: TaperPlan, follow_up: FollowUp, decision: Decision, rules: TaperRules) -> int | None:
    if decision.decision == "pause":
        return rules.days("adaptation", "pause_days")
    if decision.decision == "slow":
        return min(pace.every_days for pace in plan.paces) * rules.days(
            "adaptation", "slow_interval_multiplier"
        )
    upcoming = [s.start_date for s in plan.steps if s.start_date >= follow_up.date and s.kind != "hold"]
    return (upcoming[0] - follow_up.date).days if upcoming else None


def _decision_warning(
    decision: Decision, follow_up: FollowUp, hold: int | None, paces: tuple[Any, ...], rules: TaperRules
) -> Warning | None:
    fields: dict[str, Any] = {
        "date": follow_up.date.isoformat(),
        "rule": decision.rule,
        "reason": decision.reason,
    }
    if decision.decision == "pause":
        until = follow_up.date + timedelta(days=hold or 0)
        return make_warning(rules, "taper_paused", until=until.isoformat(), **fields)
    if decision.decision == "slow":
        return make_warning(rules, "taper_slowed", every_days=min(p.every_days for p in paces), **fields)
    if decision.decision == "refer":
        return make_warning(rules, "referred", **fields)
    return None


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
    dosings, warnings = _current(plan, follow_up, courses, rules)
    paces = plan.paces
    if decision.decision == "slow":
        paces = tuple(p.slowed(rules.days("adaptation", "slow_interval_multiplier")) for p in paces)
    hold = _hold_days(plan, follow_up, decision, rules)
    notice = _decision_warning(decision, follow_up, hold, paces, rules)
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
        plan.request,
        start_date=follow_up.date,
        opioid_use_days=plan.request.opioid_use_days + max(elapsed, 0),
    )
    inputs = PlanInputs(
        request=request,
        courses=courses,
        dosings=dosings,
        paces=dict(enumerate(paces)),
        start_date=follow_up.date,
        hold_days=hold,
        hold_open=decision.decision == "refer",
        history=(*plan.history, entry),
        extra_warnings=tuple(warnings) + ((notice,) if notice else ()),
    )
    return build_plan(inputs, rules)
