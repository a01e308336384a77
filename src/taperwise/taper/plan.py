"""The taper plan and its parts, as result objects: print them, export them, read them back.

``TaperPlan.to_dict()`` is the stable JSON documented by ``docs/schemas/taper-plan.schema.json``;
``TaperPlan.from_dict()`` reads it back (the adaptation after a follow-up starts from a saved plan).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from taperwise.taper.administration import (
    Administration,
    DailyDose,
    DispenseLine,
    Instalment,
    PartnerLine,
    UnitLine,
)
from taperwise.taper.jsonvalues import from_json_day, from_json_number, plain, to_json_number
from taperwise.taper.request import Pace, TaperRequest

__all__ = [
    "PLAN_FORMAT",
    "Administration",
    "DailyDose",
    "DispenseLine",
    "FollowUpVisit",
    "HistoryEntry",
    "Instalment",
    "PartnerLine",
    "Step",
    "StepChange",
    "TaperPlan",
    "UnitLine",
    "Warning",
]

PLAN_FORMAT = "taperwise.taper-plan/1"


@dataclass(frozen=True)
class StepChange:
    """One drug's change at the start of a step (several only with `concurrent_changes`)."""

    regimen_index: int
    kind: str  # reduction | interval_extension | stop
    schedule: str
    interval_days: int
    requested_reduction: Decimal  # per day, in the drug's dose unit
    achieved_reduction: Decimal

    def to_dict(self) -> dict[str, Any]:
        return {
            "regimen_index": self.regimen_index,
            "kind": self.kind,
            "schedule": self.schedule,
            "interval_days": self.interval_days,
            "requested_reduction": to_json_number(self.requested_reduction),
            "achieved_reduction": to_json_number(self.achieved_reduction),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> StepChange:
        return cls(
            int(raw["regimen_index"]),
            raw["kind"],
            raw["schedule"],
            int(raw["interval_days"]),
            from_json_number(raw["requested_reduction"]),
            from_json_number(raw["achieved_reduction"]),
        )


@dataclass(frozen=True)
class Step:
    """A period on one regimen. `end_date` is None for the last step, which holds from its start on."""

    number: int
    start_date: date
    end_date: date | None
    kind: str  # reduction | interval_extension | stop | hold
    changed_drug: int | None  # regimen index of the drug changed at the start of this step
    administrations: tuple[Administration, ...]
    daily_dose: dict[str, DailyDose]  # per ingredient
    daily_mme: Decimal
    dispense: tuple[DispenseLine, ...] = ()
    interval_days: int | None = None  # the interval this change was planned for
    requested_reduction: Decimal | None = None  # per day, in the changed drug's unit
    achieved_reduction: Decimal | None = None
    schedule: str = ""  # e.g. "every 8 hours"
    changes: tuple[StepChange, ...] = ()  # every drug changed at this step; the fields above: the first
    instalments: tuple[Instalment, ...] = ()  # the supplies of the step; `dispense` is their total

    @property
    def days(self) -> int | None:
        return None if self.end_date is None else (self.end_date - self.start_date).days + 1

    def covers(self, day: date) -> bool:
        return self.start_date <= day and (self.end_date is None or day <= self.end_date)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "number": self.number,
            "start_date": self.start_date.isoformat(),
            "end_date": self.end_date.isoformat() if self.end_date else None,
            "kind": self.kind,
            "changed_drug": self.changed_drug,
            "schedule": self.schedule,
            "administrations": [a.to_dict() for a in self.administrations],
            "daily_dose": {name: dose.to_dict() for name, dose in self.daily_dose.items()},
            "daily_mme": to_json_number(self.daily_mme),
            "dispense": [line.to_dict() for line in self.dispense],
            "interval_days": self.interval_days,
        }
        for name in ("requested_reduction", "achieved_reduction"):
            value = getattr(self, name)
            out[name] = None if value is None else to_json_number(value)
        out["changes"] = [change.to_dict() for change in self.changes]
        out["instalments"] = [part.to_dict() for part in self.instalments]
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Step:
        def number(key: str) -> Decimal | None:
            return None if raw.get(key) is None else from_json_number(raw[key])

        return cls(
            number=int(raw["number"]),
            start_date=from_json_day(raw["start_date"]),
            end_date=from_json_day(raw["end_date"]) if raw.get("end_date") else None,
            kind=raw["kind"],
            changed_drug=raw.get("changed_drug"),
            administrations=tuple(Administration.from_dict(a) for a in raw["administrations"]),
            daily_dose={name: DailyDose.from_dict(d) for name, d in raw["daily_dose"].items()},
            daily_mme=from_json_number(raw["daily_mme"]),
            dispense=tuple(DispenseLine.from_dict(line) for line in raw.get("dispense", [])),
            interval_days=raw.get("interval_days"),
            requested_reduction=number("requested_reduction"),
            achieved_reduction=number("achieved_reduction"),
            schedule=raw.get("schedule", ""),
            changes=tuple(StepChange.from_dict(c) for c in raw.get("changes", [])),
            instalments=tuple(Instalment.from_dict(i) for i in raw.get("instalments", [])),
        )


@dataclass(frozen=True)
class Warning:
    """A guideline concern on the plan; `steps` and `drug` say where it applies, when it is local."""

    code: str
    severity: str  # info | caution | requires_review
    message: str
    source: str
    drug: int | None = None
    steps: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "source": self.source,
            "drug": self.drug,
            "steps": list(self.steps),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Warning:
        return cls(
            raw["code"],
            raw["severity"],
            raw["message"],
            raw["source"],
            raw.get("drug"),
            tuple(raw.get("steps", ())),
        )


@dataclass(frozen=True)
class FollowUpVisit:
    date: date
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"date": self.date.isoformat(), "reason": self.reason}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> FollowUpVisit:
        return cls(from_json_day(raw["date"]), raw["reason"])


@dataclass(frozen=True)
class HistoryEntry:
    """A follow-up that changed the plan: what was reported, the decision, its rule and reason, and the
    steps of the superseded plan up to the follow-up (nothing is deleted, only superseded)."""

    date: date
    decision: str
    rule: str
    reason: str
    follow_up: dict[str, Any]
    superseded_steps: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "decision": self.decision,
            "rule": self.rule,
            "reason": self.reason,
            "follow_up": self.follow_up,
            "superseded_steps": list(self.superseded_steps),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> HistoryEntry:
        return cls(
            from_json_day(raw["date"]),
            raw["decision"],
            raw["rule"],
            raw["reason"],
            raw["follow_up"],
            tuple(raw.get("superseded_steps", ())),
        )


@dataclass(frozen=True)
class TaperPlan:
    request: TaperRequest
    paces: tuple[Pace, ...]  # the pace in force for each regimen item (after any slowing)
    baseline: Step
    steps: tuple[Step, ...]
    warnings: tuple[Warning, ...]
    follow_ups: tuple[FollowUpVisit, ...]
    summary: dict[str, Any]
    rules_version: str
    history: tuple[HistoryEntry, ...] = field(default=())

    @property
    def review_required(self) -> bool:
        return any(w.severity == "requires_review" for w in self.warnings)

    def warning_codes(self) -> set[str]:
        return {w.code for w in self.warnings}

    def daily_totals(self, ingredient: str) -> list[Decimal]:
        """Daily dose of one ingredient at baseline and at every step (the VA tables' right-hand column)."""
        return [
            step.daily_dose[ingredient].amount if ingredient in step.daily_dose else Decimal(0)
            for step in (self.baseline, *self.steps)
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": PLAN_FORMAT,
            "rules_version": self.rules_version,
            "request": self.request.to_dict(),
            "paces": [pace.to_dict() for pace in self.paces],
            "review_required": self.review_required,
            "baseline": self.baseline.to_dict(),
            "steps": [step.to_dict() for step in self.steps],
            "warnings": [w.to_dict() for w in self.warnings],
            "follow_ups": [visit.to_dict() for visit in self.follow_ups],
            "summary": self.summary,
            "history": [entry.to_dict() for entry in self.history],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TaperPlan:
        return cls(
            request=TaperRequest.from_dict(raw["request"]),
            paces=tuple(Pace.from_dict(p, f"paces[{i}]") for i, p in enumerate(raw["paces"])),
            baseline=Step.from_dict(raw["baseline"]),
            steps=tuple(Step.from_dict(s) for s in raw["steps"]),
            warnings=tuple(Warning.from_dict(w) for w in raw["warnings"]),
            follow_ups=tuple(FollowUpVisit.from_dict(v) for v in raw["follow_ups"]),
            summary=raw["summary"],
            rules_version=raw["rules_version"],
            history=tuple(HistoryEntry.from_dict(h) for h in raw.get("history", [])),
        )

    def summary_text(self) -> str:
        """A short printable calendar: one line per step."""
        lines = [f"Taper plan from {self.request.start_date.isoformat()} ({len(self.steps)} steps)"]
        for step in self.steps:
            until = step.end_date.isoformat() if step.end_date else "onwards"
            doses = "; ".join(a.describe() for a in step.administrations) or "no opioid"
            lines.append(
                f"{step.number:>3}. {step.start_date.isoformat()} to {until}: {doses} "
                f"[{plain(step.daily_mme)} MME/day]"
            )
        lines += [f"[{w.severity}] {w.code}: {w.message}" for w in self.warnings]
        return "\n".join(lines)
