"""One drug of a taper request as the patient takes it now: product, doses per administration, options.

Doses are per administration in mg (also for a liquid, whose volume the engine works out from its
concentration) or, for a patch, in mcg/hr. An as-needed (PRN) drug has no schedule to taper, so it is
refused unless the request gives the scheduled equivalent agreed with the patient; the as-needed maximum,
when given, is kept so that the scheduled equivalent can never exceed it (a taper never increases a dose).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from taperwise.errors import RequestValidationError
from taperwise.taper.jsonvalues import (
    check_keys,
    optional_int,
    read_bool,
    read_decimal,
    read_text,
    require,
    to_json_number,
)
from taperwise.taper.pace import Pace
from taperwise.taper.rules import load_rules

PRODUCT_UNITS = ("mg", "mcg", "mcg/hr", "mg/mL")
MAX_ADMINISTRATIONS = 24  # read at most this many; the schedules (rules.json) then say how many are planned
AS_NEEDED_WHY = "an as-needed (PRN) regimen has no schedule to taper"
AS_NEEDED_TODO = (
    "agree with the patient the doses actually taken on a usual day (e.g. the average of the last 2-4 "
    'weeks) and give them as "scheduled_equivalent": {"dose": 10, "times_per_day": 2} (or {"doses": [...]})'
)


@dataclass(frozen=True)
class Partner:
    """The non-opioid ingredient of a combination product and its strength per unit, e.g. the
    paracetamol 500 mg in each co-codamol 30/500 tablet."""

    ingredient: str  # canonical name: acetaminophen (shown as paracetamol in the UK)
    strength: Decimal
    unit: str = "mg"

    def to_dict(self) -> dict[str, Any]:
        return {"ingredient": self.ingredient, "strength": to_json_number(self.strength), "unit": self.unit}

    @classmethod
    def from_dict(cls, raw: Any, path: str) -> Partner:
        check_keys(raw, {"ingredient", "strength", "unit"}, path)
        ingredient = read_text(require(raw, "ingredient", path), f"{path}.ingredient", max_length=60)
        unit = raw.get("unit", "mg")
        if unit != "mg":
            raise RequestValidationError(f"{path}.unit", "a partner's strength is in mg")
        strength = read_decimal(
            require(raw, "strength", path), f"{path}.strength", positive=True, maximum=Decimal(2000)
        )
        return cls(ingredient.lower(), strength, unit)


@dataclass(frozen=True)
class ProductSpec:
    """A product described field by field, for when the product text cannot (or need not) be parsed."""

    ingredient: str
    unit: str  # mg, mcg/hr for patches, mg/mL for liquids
    route: str
    release: str  # ER or IR
    dose_form: str
    wear_hours: int | None = None
    concentration: Decimal | None = None  # mg/mL, liquids only
    partners: tuple[Partner, ...] = ()  # a combination's other ingredients, per unit
    unit_strength: Decimal | None = None  # the opioid in one unit of the product as written, when known

    @property
    def is_liquid(self) -> bool:
        return self.unit == "mg/mL"

    @property
    def dose_unit(self) -> str:
        """The unit of a dose: mg for tablets and liquids, mcg/hr for patches."""
        return "mg" if self.is_liquid else self.unit

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
        if self.concentration is not None:
            out["concentration"] = to_json_number(self.concentration)
        if self.partners:
            out["partners"] = [partner.to_dict() for partner in self.partners]
        if self.unit_strength is not None:
            out["strength"] = to_json_number(self.unit_strength)
        return out

    @classmethod
    def from_dict(cls, raw: Any, path: str) -> ProductSpec:
        required = {"ingredient", "unit", "route", "release", "dose_form"}
        check_keys(raw, required | {"wear_hours", "concentration", "partners", "strength"}, path)
        values = {
            key: read_text(require(raw, key, path), f"{path}.{key}", max_length=60)
            for key in sorted(required)
        }
        if values["unit"] not in PRODUCT_UNITS:
            raise RequestValidationError(
                f"{path}.unit", "must be mg, mcg, mcg/hr (patches) or mg/mL (oral liquids)"
            )
        if values["release"] not in ("ER", "IR"):
            raise RequestValidationError(f"{path}.release", "must be ER or IR")
        concentration = raw.get("concentration")
        if (concentration is not None) != (values["unit"] == "mg/mL"):
            raise RequestValidationError(
                f"{path}.concentration", "give the concentration (mg/mL) for a liquid, and only for a liquid"
            )
        partners = raw.get("partners") or []
        if not isinstance(partners, list) or len(partners) > 3:
            raise RequestValidationError(f"{path}.partners", "must be a list of at most 3 partners")
        return cls(
            ingredient=values["ingredient"].lower(),
            unit=values["unit"],
            route=values["route"],
            release=values["release"],
            dose_form=values["dose_form"],
            wear_hours=optional_int(raw, "wear_hours", path, minimum=1, maximum=24 * 14),
            concentration=(
                read_decimal(concentration, f"{path}.concentration", positive=True, maximum=Decimal(1000))
                if concentration is not None
                else None
            ),
            partners=tuple(
                sorted(
                    (Partner.from_dict(item, f"{path}.partners[{i}]") for i, item in enumerate(partners)),
                    key=lambda partner: partner.ingredient,
                )
            ),
            unit_strength=(
                read_decimal(raw["strength"], f"{path}.strength", positive=True, maximum=Decimal(2000))
                if raw.get("strength") is not None
                else None
            ),
        )


@dataclass(frozen=True)
class RegimenItem:
    """One drug as taken now: a dose per administration (mg; mcg/hr for a patch).

    For an as-needed drug, `doses` is the agreed scheduled equivalent (what is tapered) and
    `as_needed_doses` the as-needed maximum, when given.
    """

    drug: str
    doses: tuple[Decimal, ...]
    strengths: tuple[Decimal, ...] | None = None
    product: ProductSpec | None = None
    pace: Pace | None = None
    units_per_box: int | None = None
    as_needed: bool = False
    as_needed_doses: tuple[Decimal, ...] | None = None
    max_units_per_dose: int | None = None  # None: the rules' default (S-2)
    max_strengths_per_dose: int | None = None

    def to_dict(self) -> dict[str, Any]:
        doses = [to_json_number(d) for d in self.doses]
        out: dict[str, Any] = {"drug": self.drug}
        if self.as_needed:
            out["as_needed"] = True
            out["scheduled_equivalent"] = {"doses": doses}
            if self.as_needed_doses is not None:
                out["doses"] = [to_json_number(d) for d in self.as_needed_doses]
        else:
            out["doses"] = doses
        if self.strengths is not None:
            out["strengths"] = [to_json_number(s) for s in self.strengths]
        if self.product is not None:
            out["product"] = self.product.to_dict()
        if self.pace is not None:
            out["pace"] = self.pace.to_dict()
        if self.units_per_box is not None:
            out["units_per_box"] = self.units_per_box
        for name in ("max_units_per_dose", "max_strengths_per_dose"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out

    @classmethod
    def from_dict(cls, raw: Any, path: str) -> RegimenItem:
        check_keys(
            raw,
            {"drug", "dose", "doses", "times_per_day", "strengths", "product", "pace", "units_per_box"}
            | {"as_needed", "scheduled_equivalent", "max_units_per_dose", "max_strengths_per_dose"},
            path,
        )
        limits = load_rules().limits
        drug = require(raw, "drug", path)
        if not isinstance(drug, str) or not drug.strip():
            raise RequestValidationError(f"{path}.drug", "must be the product text, e.g. an RxNorm name")
        drug = read_text(drug, f"{path}.drug", max_length=limits.max_text)
        as_needed = read_bool(raw.get("as_needed", False), f"{path}.as_needed")
        doses, as_needed_doses = _read_scheduled(raw, path, as_needed)
        return cls(
            drug=drug,
            doses=doses,
            strengths=_read_strengths(raw.get("strengths"), path),
            product=ProductSpec.from_dict(raw["product"], f"{path}.product") if raw.get("product") else None,
            pace=Pace.from_dict(raw["pace"], f"{path}.pace") if raw.get("pace") is not None else None,
            units_per_box=optional_int(
                raw, "units_per_box", path, minimum=1, maximum=limits.max_units_per_box
            ),
            as_needed=as_needed,
            as_needed_doses=as_needed_doses,
            max_units_per_dose=optional_int(
                raw, "max_units_per_dose", path, minimum=1, maximum=limits.max_units_per_dose
            ),
            max_strengths_per_dose=optional_int(raw, "max_strengths_per_dose", path, minimum=1, maximum=4),
        )


def _max_dose() -> Decimal:
    """The largest dose any unit allows; each drug's own unit is checked when its product is known."""
    return max(load_rules().limits.max_dose.values())


def _read_strengths(strengths: Any, path: str) -> tuple[Decimal, ...] | None:
    if strengths is None:
        return None
    limit = load_rules().limits.max_strengths
    if not isinstance(strengths, list) or not strengths or len(strengths) > limit:
        raise RequestValidationError(
            f"{path}.strengths", f"must be a non-empty list of at most {limit} strengths"
        )
    return tuple(
        sorted(
            read_decimal(s, f"{path}.strengths[{i}]", positive=True, maximum=_max_dose())
            for i, s in enumerate(strengths)
        )
    )


def _read_scheduled(
    raw: dict[str, Any], path: str, as_needed: bool
) -> tuple[tuple[Decimal, ...], tuple[Decimal, ...] | None]:
    """(doses to taper, as-needed maximum). Scheduled drugs give their doses directly; as-needed drugs
    must give the agreed scheduled equivalent, which may not exceed the as-needed maximum."""
    equivalent = raw.get("scheduled_equivalent")
    if not as_needed:
        if equivalent is not None:
            raise RequestValidationError(
                f"{path}.scheduled_equivalent", 'only for an as-needed drug ("as_needed": true)'
            )
        return _read_doses(raw, path), None
    if equivalent is None:
        raise RequestValidationError(f"{path}.scheduled_equivalent", f"{AS_NEEDED_WHY}: {AS_NEEDED_TODO}")
    check_keys(equivalent, {"dose", "doses", "times_per_day"}, f"{path}.scheduled_equivalent")
    doses = _read_doses(equivalent, f"{path}.scheduled_equivalent")
    maximum = _read_doses(raw, path) if {"dose", "doses"} & set(raw) else None
    if maximum is not None and sum(doses) > sum(maximum):
        raise RequestValidationError(
            f"{path}.scheduled_equivalent",
            "is more per day than the as-needed maximum; a taper never increases a dose",
        )
    return doses, maximum


def _read_doses(raw: dict[str, Any], path: str) -> tuple[Decimal, ...]:
    """`dose` x `times_per_day` (or one dose, for a patch), or unequal `doses` — never both."""
    if "doses" in raw:
        if "dose" in raw or "times_per_day" in raw:
            raise RequestValidationError(
                f"{path}.doses", "give either 'doses' or 'dose' with 'times_per_day', not both"
            )
        doses = raw["doses"]
        if not isinstance(doses, list) or not doses or len(doses) > MAX_ADMINISTRATIONS:
            raise RequestValidationError(
                f"{path}.doses", "must be a non-empty list, one dose per administration"
            )
        return tuple(
            read_decimal(d, f"{path}.doses[{i}]", positive=True, maximum=_max_dose())
            for i, d in enumerate(doses)
        )
    dose = read_decimal(require(raw, "dose", path), f"{path}.dose", positive=True, maximum=_max_dose())
    times = optional_int(raw, "times_per_day", path, minimum=1, maximum=MAX_ADMINISTRATIONS)
    return (dose,) * (times or 1)
