"""A taper request: the regimen, goal, pace and patient factors a clinician and patient agreed.

Validation is by hand and strict, because a silently ignored field in clinical input is a hazard (a typo in
``suicide_risk`` must not read as "no risk"): unknown keys, missing keys and contradictions raise
:class:`RequestValidationError` naming the field in dotted form, e.g. ``regimen[1].dose``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from taperwise.errors import RequestValidationError
from taperwise.knowledge.catalogue import MARKETS
from taperwise.knowledge.factors import DEFAULT_FACTOR_SET, available_factor_sets
from taperwise.taper.jsonvalues import (
    check_keys,
    optional_int,
    read_bool,
    read_date,
    read_decimal,
    read_int,
    require,
    to_json_number,
)
from taperwise.taper.pace import PACE_UNITS, Pace
from taperwise.taper.regimen import ProductSpec, RegimenItem

__all__ = ["PACE_UNITS", "Goal", "Pace", "PatientFactors", "ProductSpec", "RegimenItem", "TaperRequest"]

GOALS = ("discontinue", "target_daily_mme")
ORDERS = ("long_acting", "short_acting", "as_listed")


@dataclass(frozen=True)
class Goal:
    type: str
    value: Decimal | None = None  # target daily MME for `target_daily_mme`

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.value is not None:
            out["value"] = to_json_number(self.value)
        return out

    @classmethod
    def from_dict(cls, raw: Any, path: str = "goal") -> Goal:
        check_keys(raw, {"type", "value"}, path)
        kind = require(raw, "type", path)
        if kind not in GOALS:
            raise RequestValidationError(f"{path}.type", f"must be one of {', '.join(GOALS)}, not {kind!r}")
        if kind == "discontinue":
            if raw.get("value") is not None:
                raise RequestValidationError(f"{path}.value", "a 'discontinue' goal takes no value")
            return cls(kind)
        return cls(kind, read_decimal(require(raw, "value", path), f"{path}.value", positive=True))


@dataclass(frozen=True)
class PatientFactors:
    suspected_oud: bool = False
    suicide_risk: bool = False
    pregnant: bool = False
    benzodiazepine: bool = False
    prior_overdose: bool = False
    substance_use_disorder: bool = False
    sleep_apnoea: bool = False
    dsm5_oud_criteria: int | None = None
    phq9_item9: int | None = None
    peg: Decimal | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in self.__dict__.items():
            if value is not None:
                out[name] = to_json_number(value) if isinstance(value, Decimal) else value
        return out

    @classmethod
    def from_dict(cls, raw: Any, path: str = "patient_factors") -> PatientFactors:
        flags = (
            "suspected_oud",
            "suicide_risk",
            "pregnant",
            "benzodiazepine",
            "prior_overdose",
            "substance_use_disorder",
            "sleep_apnoea",
        )
        check_keys(raw, {*flags, "dsm5_oud_criteria", "phq9_item9", "peg"}, path)
        values: dict[str, Any] = {name: read_bool(raw.get(name, False), f"{path}.{name}") for name in flags}
        values["dsm5_oud_criteria"] = optional_int(raw, "dsm5_oud_criteria", path, minimum=0, maximum=11)
        values["phq9_item9"] = optional_int(raw, "phq9_item9", path, minimum=0, maximum=3)
        if raw.get("peg") is not None:
            values["peg"] = read_decimal(raw["peg"], f"{path}.peg", maximum=Decimal(10))
        return cls(**values)


@dataclass(frozen=True)
class TaperRequest:
    start_date: date
    regimen: tuple[RegimenItem, ...]
    opioid_use_days: int
    goal: Goal = field(default_factory=lambda: Goal("discontinue"))
    pace: Pace | None = None
    patient_factors: PatientFactors = field(default_factory=PatientFactors)
    first_to_taper: str | int = "long_acting"
    factor_set: str = "cdc-2022"
    market: str | None = None  # US or UK strengths and pack sizes; None: both markets
    concurrent_changes: bool = False  # several drugs may change at the same step (only when asked)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "start_date": self.start_date.isoformat(),
            "regimen": [item.to_dict() for item in self.regimen],
            "opioid_use_days": self.opioid_use_days,
            "goal": self.goal.to_dict(),
            "patient_factors": self.patient_factors.to_dict(),
            "first_to_taper": self.first_to_taper,
            "factor_set": self.factor_set,
        }
        if self.pace is not None:
            out["pace"] = self.pace.to_dict()
        if self.market is not None:
            out["market"] = self.market
        if self.concurrent_changes:
            out["concurrent_changes"] = True
        return out

    @classmethod
    def from_dict(cls, raw: Any) -> TaperRequest:
        keys = {
            "start_date",
            "regimen",
            "opioid_use_days",
            "goal",
            "pace",
            "patient_factors",
            "first_to_taper",
            "factor_set",
            "market",
            "concurrent_changes",
        }
        check_keys(raw, keys, "request")
        regimen = require(raw, "regimen", "request")
        if not isinstance(regimen, list) or not regimen:
            raise RequestValidationError("regimen", "must list at least one drug")
        items = tuple(RegimenItem.from_dict(item, f"regimen[{i}]") for i, item in enumerate(regimen))
        request = cls(
            start_date=read_date(require(raw, "start_date", "request"), "start_date"),
            regimen=items,
            opioid_use_days=read_int(
                require(raw, "opioid_use_days", "request"), "opioid_use_days", minimum=0
            ),
            goal=Goal.from_dict(raw["goal"]) if "goal" in raw else Goal("discontinue"),
            pace=Pace.from_dict(raw["pace"]) if raw.get("pace") is not None else None,
            patient_factors=PatientFactors.from_dict(raw.get("patient_factors") or {}),
            first_to_taper=_read_order(raw.get("first_to_taper", "long_acting"), len(items)),
            factor_set=_read_factor_set(raw.get("factor_set")),
            market=_read_market(raw.get("market")),
            concurrent_changes=read_bool(raw.get("concurrent_changes", False), "concurrent_changes"),
        )
        return request


def _read_factor_set(value: Any) -> str:
    """The MME conversion-factor set (default cdc-2022); an unknown one is refused, never guessed."""
    if value is None:
        return DEFAULT_FACTOR_SET
    known = available_factor_sets()
    if value not in known:
        raise RequestValidationError("factor_set", f"must be one of {', '.join(known)}, not {value!r}")
    return str(value)


def _read_market(value: Any) -> str | None:
    """US or UK: only strengths and pack sizes marketed there are offered; absent or null: both."""
    if value is None or value in MARKETS:
        return value if isinstance(value, str) else None
    raise RequestValidationError("market", f"must be one of {', '.join(MARKETS)} (or left out for both)")


def _read_order(value: Any, count: int) -> str | int:
    """`long_acting` (default), `short_acting`, `as_listed`, or the index of the drug to taper first."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RequestValidationError(
            "first_to_taper", f"must be one of {', '.join(ORDERS)} or a regimen index"
        )
    if isinstance(value, int):
        if not 0 <= value < count:
            raise RequestValidationError(
                "first_to_taper", f"index {value} is not in the regimen (0..{count - 1})"
            )
        return value
    if value not in ORDERS:
        raise RequestValidationError(
            "first_to_taper", f"must be one of {', '.join(ORDERS)} or a regimen index"
        )
    return value
