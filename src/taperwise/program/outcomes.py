"""Outcomes for the clinic: the "tapering success" composite, with unknown kept apart from "not met".

The definition and its thresholds are data (`knowledge/data/program/outcomes.json`): success when the
daily MME fell by at least half without pain getting meaningfully worse, or when it did not rise and pain
got meaningfully better (a 30% change in PEG, the guideline's meaningful change). A value that is missing
— no baseline PEG, a current dose that is only a lower bound — makes the outcome *unknown* with the
reason, never *not met*.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from taperwise.errors import KnowledgeError
from taperwise.knowledge.instruments import load_program_sources


@dataclass(frozen=True)
class SuccessRule:
    definition: str
    dose_reduction: Decimal
    pain_meaningful: Decimal
    source_id: str
    note: str


@dataclass(frozen=True)
class Outcome:
    status: str  # "success", "not_met" or "unknown"
    reason: str
    dose_change: Decimal | None  # fraction of the baseline: -0.5 is half the dose
    pain_change: Decimal | None


@cache
def success_rule() -> SuccessRule:
    path = resources.files("taperwise.knowledge") / "data" / "program" / "outcomes.json"
    raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))["tapering_success"]
    if raw["source_id"] not in load_program_sources():
        raise KnowledgeError("program/outcomes.json: tapering_success names an unknown source")
    return SuccessRule(
        raw["definition"],
        Decimal(str(raw["dose_reduction_fraction"])),
        Decimal(str(raw["pain_meaningful_fraction"])),
        raw["source_id"],
        raw["note"],
    )


def tapering_success(
    baseline_mme: Decimal | None,
    current_mme: Decimal | None,
    baseline_peg: Decimal | None,
    current_peg: Decimal | None,
    *,
    current_is_lower_bound: bool = False,
) -> Outcome:
    rule = success_rule()
    missing = [
        name
        for name, value in (
            ("the baseline daily MME", baseline_mme),
            ("the current daily MME", current_mme),
            ("a baseline PEG", baseline_peg),
            ("a current PEG", current_peg),
        )
        if value is None
    ]
    if missing:
        return Outcome("unknown", "not known: " + ", ".join(missing), None, None)
    assert baseline_mme is not None
    assert current_mme is not None
    assert baseline_peg is not None
    assert current_peg is not None
    if baseline_mme <= 0:
        return Outcome("unknown", "no opioid at baseline: a taper outcome does not apply", None, None)
    dose_change = (current_mme - baseline_mme) / baseline_mme
    pain_change = (current_peg - baseline_peg) / baseline_peg if baseline_peg > 0 else None
    if current_is_lower_bound:
        return Outcome(
            "unknown",
            "the current dose is only a lower bound (some supply has no known MME)",
            dose_change,
            pain_change,
        )
    halved = dose_change <= -rule.dose_reduction
    if pain_change is None:  # PEG 0 at baseline: pain cannot get "better"; worse is any rise
        worse, better = current_peg > 0, False
    else:
        worse, better = pain_change >= rule.pain_meaningful, pain_change <= -rule.pain_meaningful
    if halved and not worse:
        return Outcome(
            "success", "daily MME at least halved without meaningfully worse pain", dose_change, pain_change
        )
    if dose_change <= 0 and better:
        return Outcome(
            "success", "daily MME did not rise and pain is meaningfully better", dose_change, pain_change
        )
    if halved:
        return Outcome(
            "not_met", "daily MME at least halved, but pain is meaningfully worse", dose_change, pain_change
        )
    return Outcome(
        "not_met",
        "daily MME not halved, and no meaningful improvement in pain with it",
        dose_change,
        pain_change,
    )
