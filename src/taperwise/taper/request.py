"""A taper request: the regimen, goal, pace and patient factors a clinician and patient agreed.

Validation is by hand and strict, because a silently ignored field in clinical input is a hazard (a typo in
``suicide_risk`` must not read as "no risk"): unknown keys, missing keys and contradictions raise
:class:`RequestValidationError` naming the field in dotted form, e.g. ``regimen[1].dose``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

from taperwise.errors import RequestValidationError
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

PACE_UNITS = ("percent_of_original", "percent_of_current", "absolute")
GOALS = ("discontinue", "target_daily_mme")
ORDERS = ("long_acting", "short_acting", "as_listed")


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

    def slowed(self, multiplier: int) -> Pace:
        then = self.then.slowed(multiplier) if self.then is not None else None
        return replace(self, every_days=self.every_days * multiplier, then=then)

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
    def from_dict(cls, raw: Any, path: str = "pace") -> Pace:
        check_keys(
            raw, {"reduction", "unit", "every_days", "until_percent_of_original", "then", "rule_id"}, path
        )
        unit = require(raw, "unit", path)
        if unit not in PACE_UNITS:
            raise RequestValidationError(
                f"{path}.unit", f"must be one of {', '.join(PACE_UNITS)}, not {unit!r}"
            )
        reduction = read_decimal(require(raw, "reduction", path), f"{path}.reduction", positive=True)
        if unit != "absolute" and reduction > 100:
            raise RequestValidationError(f"{path}.reduction", "a percentage above 100 is not a taper")
        every_days = read_int(require(raw, "every_days", path), f"{path}.every_days", minimum=1)
        until = raw.get("until_percent_of_original")
        then = raw.get("then")
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
                read_decimal(until, f"{path}.until_percent_of_original", positive=True)
                if until is not None
                else None
            ),
            then=cls.from_dict(then, f"{path}.then") if then is not None else None,
            rule_id=raw.get("rule_id"),
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
            raise RequestValidationError(f"{path}.type", f"must be one of {', '.join(GOALS)}, not {kind!r}")
        if kind == "discontinue":
            if raw.get("value") is not None:
                raise RequestValidationError(f"{path}.value", "a 'discontinue' goal takes no value")
            return cls(kind)
        return cls(kind, read_decimal(require(raw, "value", path), f"{path}.value", positive=True))


@dataclass(frozen=True)
class ProductSpec:
    """A product described field by field, for when the product text cannot (or need not) be parsed."""

    ingredient: str
    unit: str  # mg, or mcg/hr for patches
    route: str
    release: str  # ER or IR
    dose_form: str
    wear_hours: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ingredient": self.ingredient,
            "unit": self.unit,
            "route": self.route,
            "release": self.release,
            "dose_form": self.dose_form,
        }
        if self.wear_hours is not None:
            out["wear_hours"] = self.wear_hours
        return out

    @classmethod
    def from_dict(cls, raw: Any, path: str) -> ProductSpec:
        keys = {"ingredient", "unit", "route", "release", "dose_form", "wear_hours"}
        check_keys(raw, keys, path)
        values = {key: str(require(raw, key, path)) for key in sorted(keys - {"wear_hours"})}
        if values["unit"] not in ("mg", "mcg", "mcg/hr"):
            raise RequestValidationError(f"{path}.unit", "must be mg, mcg, or mcg/hr (patches)")
        if values["release"] not in ("ER", "IR"):
            raise RequestValidationError(f"{path}.release", "must be ER or IR")
        return cls(
            ingredient=values["ingredient"].lower(),
            unit=values["unit"],
            route=values["route"],
            release=values["release"],
            dose_form=values["dose_form"],
            wear_hours=optional_int(raw, "wear_hours", path, minimum=1),
        )


@dataclass(frozen=True)
class RegimenItem:
    """One drug as taken now: a dose per administration, in the product's strength unit."""

    drug: str
    doses: tuple[Decimal, ...]
    strengths: tuple[Decimal, ...] | None = None
    product: ProductSpec | None = None
    pace: Pace | None = None
    units_per_box: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"drug": self.drug, "doses": [to_json_number(d) for d in self.doses]}
        if self.strengths is not None:
            out["strengths"] = [to_json_number(s) for s in self.strengths]
        if self.product is not None:
            out["product"] = self.product.to_dict()
        if self.pace is not None:
            out["pace"] = self.pace.to_dict()
        if self.units_per_box is not None:
            out["units_per_box"] = self.units_per_box
        return out

    @classmethod
    def from_dict(cls, raw: Any, path: str) -> RegimenItem:
        check_keys(
            raw,
            {"drug", "dose", "doses", "times_per_day", "strengths", "product", "pace", "units_per_box"},
            path,
        )
        drug = require(raw, "drug", path)
        if not isinstance(drug, str) or not drug.strip():
            raise RequestValidationError(f"{path}.drug", "must be the product text, e.g. an RxNorm name")
        strengths = raw.get("strengths")
        if strengths is not None:
            if not isinstance(strengths, list) or not strengths:
                raise RequestValidationError(f"{path}.strengths", "must be a non-empty list of strengths")
            strengths = tuple(
                sorted(
                    read_decimal(s, f"{path}.strengths[{i}]", positive=True) for i, s in enumerate(strengths)
                )
            )
        return cls(
            drug=drug.strip(),
            doses=_read_doses(raw, path),
            strengths=strengths,
            product=ProductSpec.from_dict(raw["product"], f"{path}.product") if raw.get("product") else None,
            pace=Pace.from_dict(raw["pace"], f"{path}.pace") if raw.get("pace") is not None else None,
            units_per_box=optional_int(raw, "units_per_box", path, minimum=1),
        )


def _read_doses(raw: dict[str, Any], path: str) -> tuple[Decimal, ...]:
    """`dose` x `times_per_day` (or one dose, for a patch), or unequal `doses` — never both."""
    if "doses" in raw:
        if "dose" in raw or "times_per_day" in raw:
            raise RequestValidationError(
                f"{path}.doses", "give either 'doses' or 'dose' with 'times_per_day', not both"
            )
        doses = raw["doses"]
        if not isinstance(doses, list) or not doses:
            raise RequestValidationError(
                f"{path}.doses", "must be a non-empty list, one dose per administration"
            )
        return tuple(read_decimal(d, f"{path}.doses[{i}]", positive=True) for i, d in enumerate(doses))
    dose = read_decimal(require(raw, "dose", path), f"{path}.dose", positive=True)
    times = optional_int(raw, "times_per_day", path, minimum=1)
    return (dose,) * (times or 1)


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
            factor_set=str(raw.get("factor_set", "cdc-2022")),
        )
        return request


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
