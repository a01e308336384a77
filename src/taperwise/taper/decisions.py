"""The decision after a follow-up: the first row of the decision table that holds, and the alerts.

The table (``knowledge/data/taper/decisions.json``) is tried row by row; the first row that holds decides
continue, pause, slow, step back or refer. A referral (or a special-situation hold) is sticky: it ends only
when a follow-up records the specialist's review with a decision to resume, and `decide` keeps it even if
the table were edited to let a routine row through.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from taperwise.errors import RequestValidationError
from taperwise.taper.concerns import pending_situations
from taperwise.taper.followup import FollowUp
from taperwise.taper.plan import TaperPlan, Warning
from taperwise.taper.rules import TaperRules, load_rules
from taperwise.taper.safety import make_warning

ENDS_HOLD = ("resume", "slow")  # specialist decisions that end a referral hold


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
    ended = review is not None and review.decision in ENDS_HOLD
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


def holds(condition: dict[str, Any], facts: dict[str, Any], named: dict[str, Any]) -> bool:
    if "always" in condition:
        return bool(condition["always"])
    if "all" in condition:
        return all(holds(c, facts, named) for c in condition["all"])
    if "any" in condition:
        return any(holds(c, facts, named) for c in condition["any"])
    if "condition" in condition:
        return holds(named[condition["condition"]], facts, named)
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
    row = next((row for row in table["rows"] if holds(row["when"], facts, table["conditions"])), None)
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
        if holds(row["when"], decision.facts, table["conditions"])
    ]


def held_rules(rules: TaperRules) -> set[str]:
    """Rows that keep an existing hold rather than open a referral (they mention referral_open)."""
    return {row["id"] for row in rules.decisions["rows"] if "referral_open" in str(row["when"])}
