"""What a patient takes and a pharmacy supplies in one step: units, administrations, dispensing lines.

Doses are exact Decimals inside and JSON numbers outside; an oral liquid carries its volume in mL beside
its dose in mg, so the calendar can show what to draw up in the oral syringe.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from taperwise.taper.jsonvalues import from_json_day, from_json_number, plain, to_json_number


@dataclass(frozen=True)
class PartnerLine:
    """The non-opioid partner one unit of a combination carries: paracetamol 500 mg in co-codamol 30/500."""

    ingredient: str  # canonical: acetaminophen
    name: str  # as the market says it: paracetamol (UK), acetaminophen (US)
    strength: Decimal
    unit: str = "mg"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ingredient": self.ingredient,
            "name": self.name,
            "strength": to_json_number(self.strength),
            "unit": self.unit,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> PartnerLine:
        return cls(raw["ingredient"], raw["name"], from_json_number(raw["strength"]), raw.get("unit", "mg"))


def _partners_to_dict(out: dict[str, Any], partners: tuple[PartnerLine, ...]) -> None:
    if partners:
        out["partners"] = [partner.to_dict() for partner in partners]


def _partners_from_dict(raw: dict[str, Any]) -> tuple[PartnerLine, ...]:
    return tuple(PartnerLine.from_dict(p) for p in raw.get("partners", []))


@dataclass(frozen=True)
class UnitLine:
    """`count` units of one real product strength, e.g. two 'morphine 15 mg ER tablet'; for an oral
    liquid, one measured dose of `volume_ml` mL of its concentration (`strength` in mg/mL); for a
    combination, the partner each unit carries."""

    drug: str
    strength: Decimal
    unit: str
    count: int
    volume_ml: Decimal | None = None
    partners: tuple[PartnerLine, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "drug": self.drug,
            "strength": to_json_number(self.strength),
            "unit": self.unit,
            "count": self.count,
        }
        if self.volume_ml is not None:
            out["volume_ml"] = to_json_number(self.volume_ml)
        _partners_to_dict(out, self.partners)
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> UnitLine:
        volume = raw.get("volume_ml")
        return cls(
            raw["drug"],
            from_json_number(raw["strength"]),
            raw["unit"],
            int(raw["count"]),
            None if volume is None else from_json_number(volume),
            _partners_from_dict(raw),
        )

    def describe(self) -> str:
        if self.volume_ml is not None:
            return f"{plain(self.volume_ml)} mL of {plain(self.strength)} {self.unit}"
        return f"{self.count} x {plain(self.strength)}"


@dataclass(frozen=True)
class Administration:
    """One time of day (or one patch application) of one drug: the units taken and the dose they make."""

    regimen_index: int
    drug: str
    time: str
    units: tuple[UnitLine, ...]
    dose: Decimal
    unit: str
    volume_ml: Decimal | None = None  # oral liquids: the mL measured for this dose

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "regimen_index": self.regimen_index,
            "drug": self.drug,
            "time": self.time,
            "units": [line.to_dict() for line in self.units],
            "dose": to_json_number(self.dose),
            "unit": self.unit,
        }
        if self.volume_ml is not None:
            out["volume_ml"] = to_json_number(self.volume_ml)
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Administration:
        volume = raw.get("volume_ml")
        return cls(
            int(raw["regimen_index"]),
            raw["drug"],
            raw["time"],
            tuple(UnitLine.from_dict(line) for line in raw["units"]),
            from_json_number(raw["dose"]),
            raw["unit"],
            None if volume is None else from_json_number(volume),
        )

    def describe(self) -> str:
        units = " + ".join(line.describe() for line in self.units)
        return f"{self.time}: {plain(self.dose)} {self.unit} ({units})"


@dataclass(frozen=True)
class DispenseLine:
    """How much of one strength to supply for a step, in `quantity_unit` (tablet, capsule, patch, mL);
    `boxes` when whole boxes are dispensed, `bottles` ((mL, count), ...) for an oral liquid."""

    drug: str
    strength: Decimal
    unit: str
    quantity: int
    boxes: int | None = None
    units_per_box: int | None = None
    quantity_unit: str = ""
    bottles: tuple[tuple[int, int], ...] = ()
    partners: tuple[PartnerLine, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "drug": self.drug,
            "strength": to_json_number(self.strength),
            "unit": self.unit,
            "quantity": self.quantity,
            "quantity_unit": self.quantity_unit,
        }
        if self.boxes is not None:
            out["boxes"] = self.boxes
            out["units_per_box"] = self.units_per_box
        if self.bottles:
            out["bottles"] = [{"ml": ml, "count": count} for ml, count in self.bottles]
        _partners_to_dict(out, self.partners)
        return out

    def plus(self, other: DispenseLine) -> DispenseLine:
        """This line and another of the same product added up (instalments into the step's total)."""
        bottles: dict[int, int] = dict(self.bottles)
        for ml, count in other.bottles:
            bottles[ml] = bottles.get(ml, 0) + count
        boxes = None if self.boxes is None or other.boxes is None else self.boxes + other.boxes
        return DispenseLine(
            self.drug,
            self.strength,
            self.unit,
            self.quantity + other.quantity,
            boxes,
            self.units_per_box,
            self.quantity_unit,
            tuple(sorted(bottles.items(), reverse=True)),
            self.partners,
        )

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> DispenseLine:
        return cls(
            raw["drug"],
            from_json_number(raw["strength"]),
            raw["unit"],
            int(raw["quantity"]),
            raw.get("boxes"),
            raw.get("units_per_box"),
            raw.get("quantity_unit", ""),
            tuple((int(b["ml"]), int(b["count"])) for b in raw.get("bottles", [])),
            _partners_from_dict(raw),
        )


@dataclass(frozen=True)
class Instalment:
    """One supply of a step: the dates it covers and what is dispensed for them. A step longer than the
    market's limit (UK controlled drugs: 30 days) is dispensed in several."""

    start_date: date
    end_date: date
    dispense: tuple[DispenseLine, ...]

    @property
    def days(self) -> int:
        return (self.end_date - self.start_date).days + 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_date": self.start_date.isoformat(),
            "end_date": self.end_date.isoformat(),
            "days": self.days,
            "dispense": [line.to_dict() for line in self.dispense],
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Instalment:
        return cls(
            from_json_day(raw["start_date"]),
            from_json_day(raw["end_date"]),
            tuple(DispenseLine.from_dict(line) for line in raw["dispense"]),
        )


@dataclass(frozen=True)
class DailyDose:
    """A day's total of one ingredient; `partner` marks the non-opioid of a combination (paracetamol),
    with `name` the word its market uses."""

    amount: Decimal
    unit: str
    partner: bool = False
    name: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"amount": to_json_number(self.amount), "unit": self.unit}
        if self.partner:
            out["partner"] = True
            out["name"] = self.name
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> DailyDose:
        return cls(
            from_json_number(raw["amount"]), raw["unit"], bool(raw.get("partner", False)), raw.get("name", "")
        )
