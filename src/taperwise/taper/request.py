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
    read_text,
    require,
    shown,
    to_json_number,
)
from taperwise.taper.pace import PACE_UNITS, Pace
from taperwise.taper.regimen import Partner, ProductSpec, RegimenItem
from taperwise.taper.rules import load_rules

__all__ = [
    "PACE_UNITS",
    "ClinicianReason",
    "Goal",
    "Pace",
    "Partner",
    "PatientFactors",
    "ProductSpec",
    "RegimenItem",
    "TaperRequest",
    "override_keys",
]

GOALS = ("discontinue", "target_daily_mme")
ORDERS = ("long_acting", "short_acting", "as_listed")
SETTINGS = ("community", "inpatient")
RAPID_OVERRIDE = "rapid_taper"


def override_keys() -> tuple[str, ...]:
    """The clinician's recorded choices a request may carry (`overrides`): a rapid taper, and a taper in
    each special situation of rules.json (`special_situations`)."""
    situations = load_rules().raw["special_situations"]
    return (RAPID_OVERRIDE, *(row["override"] for row in situations.values() if isinstance(row, dict)))


@dataclass(frozen=True)
class ClinicianReason:
    """A decision a named person took and why: who (`by`, e.g. "Dr A Khan, pain specialist") and the
    reason in their words. Safety defaults are only set aside by one of these, never by a bare flag."""

    by: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"by": self.by, "reason": self.reason}

    @classmethod
    def from_dict(cls, raw: Any, path: str) -> ClinicianReason:
        check_keys(raw, {"by", "reason"}, path)
        limit = load_rules().limits.max_text
        return cls(
            read_text(require(raw, "by", path), f"{path}.by", max_length=limit),
            read_text(require(raw, "reason", path), f"{path}.reason", max_length=limit),
        )


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
            raise RequestValidationError(f"{path}.type", f"must be one of {', '.join(GOALS)}")
        if kind == "discontinue":
            if raw.get("value") is not None:
                raise RequestValidationError(f"{path}.value", "a 'discontinue' goal takes no value")
            return cls(kind)
        maximum = load_rules().limits.max_target_daily_mme
        value = read_decimal(require(raw, "value", path), f"{path}.value", positive=True, maximum=maximum)
        return cls(kind, value)


@dataclass(frozen=True)
class PatientFactors:
    suspected_oud: bool = False
    suicide_risk: bool = False
    pregnant: bool = False
    benzodiazepine: bool = False
    prior_overdose: bool = False
    substance_use_disorder: bool = False
    sleep_apnoea: bool = False
    liver_disease: bool = False  # lowers the paracetamol maximum of combination products
    dsm5_oud_criteria: int | None = None
    phq9_item9: int | None = None
    peg: Decimal | None = None
    weight_kg: Decimal | None = None  # a low body weight lowers the paracetamol maximum

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
            "liver_disease",
        )
        check_keys(raw, {*flags, "dsm5_oud_criteria", "phq9_item9", "peg", "weight_kg"}, path)
        values: dict[str, Any] = {name: read_bool(raw.get(name, False), f"{path}.{name}") for name in flags}
        values["dsm5_oud_criteria"] = optional_int(raw, "dsm5_oud_criteria", path, minimum=0, maximum=11)
        values["phq9_item9"] = optional_int(raw, "phq9_item9", path, minimum=0, maximum=3)
        if raw.get("peg") is not None:
            values["peg"] = read_decimal(raw["peg"], f"{path}.peg", maximum=Decimal(10))
        if raw.get("weight_kg") is not None:
            limits = load_rules().limits
            weight = read_decimal(
                raw["weight_kg"], f"{path}.weight_kg", positive=True, maximum=limits.max_weight_kg
            )
            if weight < limits.min_weight_kg:
                raise RequestValidationError(
                    f"{path}.weight_kg", f"must be at least {limits.min_weight_kg} kg"
                )
            values["weight_kg"] = weight
        return cls(**values)

    def situations(self) -> tuple[str, ...]:
        """The special situations of rules.json (`special_situations`) that apply, in its order."""
        rules = load_rules()
        found = {
            "suspected_oud": self.suspected_oud
            or (self.dsm5_oud_criteria or 0) >= int(rules.raw["oud"]["min_dsm5_criteria"]),
            "pregnancy": self.pregnant,
            "suicide_risk": self.suicide_risk
            or (self.phq9_item9 or 0) > int(rules.raw["suicide"]["phq9_item9_above"]),
        }
        return tuple(key for key in rules.raw["special_situations"] if found.get(key))


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
    setting: str = "community"  # inpatient: a supervised setting, where a rapid taper may be planned
    overrides: dict[str, ClinicianReason] = field(default_factory=dict)  # override_keys(): who and why
    max_days_per_dispense: int | None = None  # None: the market's limit (rules.json `dispense`)

    def override(self, key: str) -> ClinicianReason | None:
        return self.overrides.get(key)

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
        if self.setting != "community":
            out["setting"] = self.setting
        if self.overrides:
            out["overrides"] = {key: reason.to_dict() for key, reason in sorted(self.overrides.items())}
        if self.max_days_per_dispense is not None:
            out["max_days_per_dispense"] = self.max_days_per_dispense
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
            "setting",
            "overrides",
            "max_days_per_dispense",
        }
        check_keys(raw, keys, "request")
        limits = load_rules().limits
        regimen = require(raw, "regimen", "request")
        if not isinstance(regimen, list) or not regimen:
            raise RequestValidationError("regimen", "must list at least one drug")
        if len(regimen) > limits.max_regimen_items:
            raise RequestValidationError(
                "regimen",
                f"lists {len(regimen)} products; at most {limits.max_regimen_items} can be planned at once",
            )
        items = tuple(RegimenItem.from_dict(item, f"regimen[{i}]") for i, item in enumerate(regimen))
        request = cls(
            start_date=read_date(
                require(raw, "start_date", "request"),
                "start_date",
                earliest=limits.earliest_date,
                latest=limits.latest_date,
            ),
            regimen=items,
            opioid_use_days=read_int(
                require(raw, "opioid_use_days", "request"),
                "opioid_use_days",
                minimum=0,
                maximum=limits.max_opioid_use_days,
            ),
            goal=Goal.from_dict(raw["goal"]) if "goal" in raw else Goal("discontinue"),
            pace=Pace.from_dict(raw["pace"]) if raw.get("pace") is not None else None,
            patient_factors=PatientFactors.from_dict(raw.get("patient_factors") or {}),
            first_to_taper=_read_order(raw.get("first_to_taper", "long_acting"), len(items)),
            factor_set=_read_factor_set(raw.get("factor_set")),
            market=_read_market(raw.get("market")),
            concurrent_changes=read_bool(raw.get("concurrent_changes", False), "concurrent_changes"),
            setting=_read_setting(raw.get("setting")),
            overrides=_read_overrides(raw.get("overrides")),
            max_days_per_dispense=optional_int(
                raw, "max_days_per_dispense", "request", minimum=1, maximum=limits.max_days_per_dispense
            ),
        )
        return request


def _read_setting(value: Any) -> str:
    if value is None:
        return "community"
    if value not in SETTINGS:
        raise RequestValidationError("setting", f"must be one of {', '.join(SETTINGS)}")
    return str(value)


def _read_overrides(raw: Any) -> dict[str, ClinicianReason]:
    """The clinician's recorded choices, each with who decided and why; an unknown key is refused."""
    if raw is None:
        return {}
    check_keys(raw, set(override_keys()), "overrides")
    return {
        key: ClinicianReason.from_dict(value, f"overrides.{key}")
        for key, value in raw.items()
        if value is not None
    }


def _read_factor_set(value: Any) -> str:
    """The MME conversion-factor set (default cdc-2022); an unknown one is refused, never guessed."""
    if value is None:
        return DEFAULT_FACTOR_SET
    known = available_factor_sets()
    if value not in known:
        raise RequestValidationError("factor_set", f"must be one of {', '.join(known)}, not {shown(value)}")
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
