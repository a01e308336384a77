"""The pace of a taper: how much, on what basis, how often, and an optional second phase.

Percentages apply to each drug's own original (linear) or current (proportionate) daily dose, never to an
MME total (clinical-rules §4).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from taperwise.errors import RequestValidationError
from taperwise.taper.jsonvalues import (
    check_keys,
    plain,
    read_decimal,
    read_int,
    require,
    shown,
    to_json_number,
)
from taperwise.taper.rules import load_rules

PACE_UNITS = ("percent_of_original", "percent_of_current", "absolute")
MAX_PHASES = 3


@dataclass(frozen=True)
class Pace:
    """How fast: `reduction` in `unit` every `every_days`; optionally a second phase (`then`) once the
    daily dose is at or below `until_percent_of_original` of the original (CDC's short-use rule)."""

    reduction: Decimal
    unit: str
    every_days: int
    until_percent_of_original: Decimal | None = None
    then: Pace | None = None
    rule_id: str | None = None  # the default-pace rule this came from, when no pace was requested

    def requested_step(self, original_daily: Decimal, current_daily: Decimal) -> Decimal:
        """The reduction of the daily dose this pace asks for at `current_daily`."""
        if self.unit == "absolute":
            return self.reduction
        base = original_daily if self.unit == "percent_of_original" else current_daily
        return base * self.reduction / 100

    def phase_at(self, original_daily: Decimal, current_daily: Decimal) -> Pace:
        """The phase in force: `then` once the dose has fallen to `until_percent_of_original`."""
        switch = self.until_percent_of_original
        if self.then is not None and switch is not None and current_daily * 100 <= original_daily * switch:
            return self.then.phase_at(original_daily, current_daily)
        return self

    def describe(self, unit: str) -> str:
        """The pace as a clinician writes it: '10% of the original dose every 28 days until ...'."""
        amount = (
            f"{plain(self.reduction)} {unit}/day" if self.unit == "absolute" else f"{plain(self.reduction)}%"
        )
        basis = {"percent_of_original": " of the original dose", "percent_of_current": " of the current dose"}
        text = f"{amount}{basis.get(self.unit, '')} every {self.every_days} days"
        if self.then is not None and self.until_percent_of_original is not None:
            text += (
                f" until {plain(self.until_percent_of_original)}% of the original remains, then "
                f"{self.then.describe(unit)}"
            )
        return text

    def slowed(self, multiplier: int, cap: int | None = None) -> Pace:
        """The same steps `multiplier` times as far apart (never further apart than `cap` days)."""
        then = self.then.slowed(multiplier, cap) if self.then is not None else None
        every = self.every_days * multiplier
        return replace(self, every_days=every if cap is None else min(every, cap), then=then)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "reduction": to_json_number(self.reduction),
            "unit": self.unit,
            "every_days": self.every_days,
        }
        if self.until_percent_of_original is not None:
            out["until_percent_of_original"] = to_json_number(self.until_percent_of_original)
        if self.then is not None:
            out["then"] = self.then.to_dict()
        if self.rule_id is not None:
            out["rule_id"] = self.rule_id
        return out

    @classmethod
    def from_dict(cls, raw: Any, path: str = "pace", depth: int = 0) -> Pace:
        check_keys(
            raw, {"reduction", "unit", "every_days", "until_percent_of_original", "then", "rule_id"}, path
        )
        unit = require(raw, "unit", path)
        if unit not in PACE_UNITS:
            raise RequestValidationError(
                f"{path}.unit", f"must be one of {', '.join(PACE_UNITS)}, not {shown(unit)}"
            )
        limits = load_rules().limits
        reduction = read_decimal(
            require(raw, "reduction", path),
            f"{path}.reduction",
            positive=True,
            maximum=max(limits.max_dose.values()),
        )
        if unit != "absolute" and reduction > 100:
            raise RequestValidationError(f"{path}.reduction", "a percentage above 100 is not a taper")
        every_days = read_int(
            require(raw, "every_days", path), f"{path}.every_days", minimum=1, maximum=limits.max_every_days
        )
        until = raw.get("until_percent_of_original")
        then = raw.get("then")
        if then is not None and depth >= MAX_PHASES - 1:
            raise RequestValidationError(f"{path}.then", f"a pace has at most {MAX_PHASES} phases")
        if (until is None) != (then is None):
            raise RequestValidationError(
                f"{path}.then",
                "give both 'until_percent_of_original' and 'then' (a second phase), or neither",
            )
        return cls(
            reduction=reduction,
            unit=unit,
            every_days=every_days,
            until_percent_of_original=(
                read_decimal(until, f"{path}.until_percent_of_original", positive=True, maximum=Decimal(100))
                if until is not None
                else None
            ),
            then=cls.from_dict(then, f"{path}.then", depth + 1) if then is not None else None,
            rule_id=_rule_id(raw.get("rule_id"), path),
        )


def _rule_id(value: Any, path: str) -> str | None:
    """The default-pace rule a saved plan's pace came from (e.g. P-1): short text or nothing."""
    if value is not None and (not isinstance(value, str) or len(value) > 20):
        raise RequestValidationError(f"{path}.rule_id", "must be a rule id such as 'P-1'")
    return value
