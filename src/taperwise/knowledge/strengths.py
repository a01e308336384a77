"""Strength expressions in product texts, and their normalisation to the units of `model.STRENGTH_UNITS`.

A strength group is one of::

    5 MG            10mg/5ml          0.025 MG/HR        100 MG per 5 ML
    10-325 MG       300-30MG          5-325 (no unit)    0.1 MG/ACTUAT
    72 HR, 7 DAY    (a duration: wear time of a patch, or "12 HR" = extended release)

Normalisation never guesses a denominator: a liquid must say per how many mL, a patch must be a rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from taperwise.knowledge.reading import Item, ItemKind, ProductTextError
from taperwise.knowledge.vocabulary import PER_UNIT_WORDS, Ingredient

_TO_MG = {"mg": Decimal(1), "g": Decimal(1000), "mcg": Decimal("0.001")}
_TO_MCG = {"mg": Decimal(1000), "g": Decimal(1_000_000), "mcg": Decimal(1)}
_DENOMINATORS = frozenset({"ml", "hr", "unit"})
_PER_WORDS = frozenset({"per", "in"})
_PLACES = Decimal("0.000001")


@dataclass(frozen=True)
class Amount:
    """One number of a strength as written, before normalisation."""

    value: Decimal
    unit: str | None  # mg, mcg or g; None when the text gave no unit ("5-325")
    per_value: Decimal | None = None
    per_unit: str | None = None  # ml, hr or unit (per actuation/dose); None = per tablet, capsule...
    per_by_word: bool = False  # written "per 5 ML": RxNorm puts it once, after the last ingredient


@dataclass(frozen=True)
class Group:
    amounts: tuple[Amount, ...] = ()
    duration_hours: int | None = None


@dataclass(frozen=True)
class Strength:
    value: Decimal
    unit: str  # one of model.STRENGTH_UNITS
    basis: str  # "unit", "ml" or "hr": what the strength is per
    note: str | None = None


def _describe(values: list[Decimal]) -> str:
    return "-".join(str(value) for value in values)


def read_group(items: list[Item], start: int) -> tuple[Group, int]:
    """Read the strength group starting at the number ``items[start]``; return it and the next index."""
    values = [_value(items[start])]
    index = start + 1
    while (
        index + 1 < len(items)
        and items[index].kind in (ItemKind.DASH, ItemKind.SLASH)
        and items[index + 1].kind is ItemKind.NUMBER
    ):
        values.append(_value(items[index + 1]))
        index += 2
    if index >= len(items) or items[index].kind is not ItemKind.UNIT:
        return Group(tuple(Amount(value, None) for value in values)), index
    unit = items[index].unit
    index += 1
    if unit in ("hr", "day"):
        return Group(duration_hours=_duration(values, unit)), index
    if unit not in _TO_MG:
        raise ProductTextError(f"'{_describe(values)} {items[index - 1].raw}' is not a strength (mg or mcg)")
    per_value, per_unit, by_word, index = _denominator(items, index)
    return Group(tuple(Amount(value, unit, per_value, per_unit, by_word) for value in values)), index


def _value(item: Item) -> Decimal:
    assert item.number is not None  # an Item of kind NUMBER always carries its number
    return item.number


def _duration(values: list[Decimal], unit: str | None) -> int:
    hours = values[0] * (24 if unit == "day" else 1)
    if len(values) != 1 or hours <= 0 or hours != hours.to_integral_value():
        raise ProductTextError(f"'{_describe(values)} {unit}' is not a wear time in whole hours")
    return int(hours)


def _denominator(items: list[Item], index: int) -> tuple[Decimal | None, str | None, bool, int]:
    """``/5ML``, ``/HR``, ``per 5 ML``, ``/ACTUAT`` after a unit; nothing consumed when absent."""
    if index >= len(items) or not (items[index].kind is ItemKind.SLASH or items[index].raw in _PER_WORDS):
        return None, None, False, index
    by_word = items[index].raw in _PER_WORDS
    cursor = index + 1
    per_value = Decimal(1)
    if cursor < len(items) and items[cursor].kind is ItemKind.NUMBER:
        per_value = _value(items[cursor])
        cursor += 1
    if cursor >= len(items):
        return None, None, False, index
    item = items[cursor]
    per_unit = item.unit if item.kind is ItemKind.UNIT else None
    if per_unit is None and item.raw in PER_UNIT_WORDS:
        per_unit = "unit"
    if per_unit not in _DENOMINATORS:
        return None, None, False, index
    if per_value <= 0:
        raise ProductTextError(f"strength denominator '{per_value} {item.raw}' must be positive")
    return per_value, per_unit, by_word, cursor + 1


def _tidy(value: Decimal) -> tuple[Decimal, str | None]:
    rounded = value.quantize(_PLACES)
    note = None if rounded == value else f"strength {value} rounded to {rounded.normalize()}"
    if rounded == rounded.to_integral_value():
        return rounded.quantize(Decimal(1)), note
    return rounded.normalize(), note


def normalise(amount: Amount, ingredient: Ingredient) -> Strength:
    """The strength in model units: mg|mcg per unit, mg|mcg per mL, or mcg/hr for patches."""
    if amount.unit is None:
        raise ProductTextError(f"strength '{amount.value}' has no unit")
    if amount.value <= 0:
        raise ProductTextError(f"strength '{amount.value} {amount.unit}' must be positive")
    if amount.per_unit == "hr":
        assert amount.per_value is not None
        value, note = _tidy(amount.value * _TO_MCG[amount.unit] / amount.per_value)
        return Strength(value, "mcg/hr", "hr", note)
    unit = "mg" if amount.unit == "g" else amount.unit
    value = amount.value * (_TO_MG["g"] if amount.unit == "g" else 1)
    if ingredient.preferred_unit == "mcg" and unit == "mg":
        value, unit = value * _TO_MCG["mg"], "mcg"
    if amount.per_unit == "ml":
        assert amount.per_value is not None
        tidy, note = _tidy(value / amount.per_value)
        return Strength(tidy, f"{unit}/mL", "ml", note)
    tidy, note = _tidy(value)
    return Strength(tidy, unit, "unit", note)
