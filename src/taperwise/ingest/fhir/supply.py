"""How long a FHIR supply lasts: the duration of each row, derived in one stated order and named per row.

Precedence (docs/decisions/0012-order-supply-duration.md), the first that gives a usable duration wins:

1. ``stated``: ``MedicationRequest.dispenseRequest.expectedSupplyDuration``,
   ``MedicationDispense.daysSupply``;
2. ``quantity_per_day``: the quantity ÷ the structured sig's units per day, when both are usable.
   ``days_supply`` is then left empty: the exposure engine computes it (rounded up, through the patch wear
   time for patches, at the sig's maximum for "as needed" sigs, flagged ``prn_max``), one rule for every
   input, as CONTRACTS.md allows;
3. ``sig_bounds``: the sig's ``timing.repeat.boundsDuration`` or ``boundsPeriod`` (first phase), the length
   of the course the prescriber wrote;
4. ``assumed``: ``--assume-order-days N``, off by default, for orders only, and only when the sig gives a
   daily dose and the record states no duration at all, so that the assumption sets how long, never how
   much a day.

``dispenseRequest.validityPeriod`` is never used: it is the window in which the order may be dispensed
(stale-dating), not how long the medicine lasts. Every value that cannot be used, and every stated duration
that the record's other facts contradict by a lot, is returned as a problem naming the record; the stated
value is kept in a contradiction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from taperwise.errors import RequestValidationError
from taperwise.ingest.fhir.dates import day_of
from taperwise.ingest.fhir.dosage import PRODUCT_UNITS

# Supply durations in other units → days (a month is 30 days, as pharmacy claims count it).
DAYS_PER = {"d": 1, "day": 1, "days": 1, "wk": 7, "week": 7, "weeks": 7, "mo": 30, "month": 30, "months": 30}
# A longer duration is not a plausible supply for one fill or one course: it is reported, never used.
MAX_SUPPLY_DAYS = 365
# Two durations of one record disagree "by a lot" when the larger is at least this many times the smaller
# and at least CONFLICT_DAYS longer (28 against 30 days is a pack size, 10 against 30 is a contradiction).
CONFLICT_RATIO = 1.5
CONFLICT_DAYS = 3
# `supply_days_source` values (empty: the input gave days_supply as a column, or nothing gave a duration).
STATED, QUANTITY_PER_DAY, SIG_BOUNDS, ASSUMED = "stated", "quantity_per_day", "sig_bounds", "assumed"
EFFECTIVE_PERIOD, ADMINISTRATION = "effective_period", "administration"
SUPPLY_DAYS_SOURCES = (STATED, QUANTITY_PER_DAY, SIG_BOUNDS, ASSUMED, EFFECTIVE_PERIOD, ADMINISTRATION)
ASSUME_OPTION = "--assume-order-days"
_USED = {
    QUANTITY_PER_DAY: "the duration is quantity ÷ units per day",
    SIG_BOUNDS: "the duration is the sig's bounds",
    ASSUMED: "the duration is assumed",
    None: "no duration is known",
}


@dataclass(frozen=True)
class Days:
    """One duration field read: whole days, or why it cannot be used; neither when the field is absent."""

    days: int | None = None
    problem: str | None = None
    kind: str = "bad_duration"


@dataclass(frozen=True)
class Supply:
    """The row's ``days_supply`` and ``supply_days_source``, and the problems met on the way."""

    days_supply: str | None = None
    source: str | None = None
    problems: tuple[tuple[str, str], ...] = field(default=())


def check_assumed_days(days: object) -> int:
    """The days of ``--assume-order-days``: a whole number from 1 to MAX_SUPPLY_DAYS, else an error."""
    text = str(days).strip()
    if isinstance(days, bool) or not text.isdigit() or not 1 <= int(text) <= MAX_SUPPLY_DAYS:
        raise RequestValidationError(
            ASSUME_OPTION, f"{text[:40]!r} is not a whole number of days from 1 to {MAX_SUPPLY_DAYS}"
        )
    return int(text)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _whole_days(days: float, written: str) -> Days:
    if not math.isfinite(days) or days != math.floor(days):
        return Days(problem=f"{written} is not a whole number of days")
    if days <= 0:
        return Days(problem=f"{written} must be above zero")
    if days > MAX_SUPPLY_DAYS:
        return Days(problem=f"{written} is {days:.0f} days, more than {MAX_SUPPLY_DAYS}")
    return Days(int(days))


def read_duration(duration: object, name: str) -> Days:
    """A FHIR Duration (``{value, unit, code}``) in days; absent when there is no value."""
    if duration is None:
        return Days()
    if not isinstance(duration, Mapping):
        return Days(problem=f"{name} {str(duration)[:40]!r} is not a Duration (value and unit)")
    raw = duration.get("value")
    if raw is None:
        return Days()
    value = _number(raw)
    if value is None:
        return Days(problem=f"{name} value {str(raw)[:40]!r} is not a number")
    unit = duration.get("code") or duration.get("unit")
    if not isinstance(unit, str) or not unit.strip():
        return Days(problem=f"{name} {value:g} has no unit", kind="bad_unit")
    unit = unit.strip().lower()
    if unit not in DAYS_PER:
        return Days(
            problem=f"{name} {value:g} {unit[:20]!r} is not in days, weeks or months", kind="bad_unit"
        )
    return _whole_days(value * DAYS_PER[unit], f"{name} {value:g} {unit}")


def _date(text: object, name: str) -> tuple[date | None, str | None]:
    day = day_of(text)
    try:
        return (
            (date.fromisoformat(day), None)
            if day
            else (None, f"{name} {str(text)[:40]!r} is not a full date")
        )
    except ValueError:
        return None, f"{name} {str(text)[:40]!r} is not a date"


def read_period(period: object, name: str, start_date: str | None) -> Days:
    """Calendar days of a Period, both ends included; a Period with no end (ongoing) gives no duration.

    With no ``start`` the row's own start date is used (a course "until the 14th").
    """
    if period is None:
        return Days()
    if not isinstance(period, Mapping):
        return Days(problem=f"{name} {str(period)[:40]!r} is not a Period (start and end)")
    if period.get("end") is None:
        return Days()
    end, why = _date(period.get("end"), f"{name}.end")
    if end is None:
        return Days(problem=why)
    start_text = period.get("start") if period.get("start") is not None else start_date
    if start_text is None:
        return Days()
    start, why = _date(start_text, f"{name}.start")
    if start is None:
        return Days(problem=why)
    if end < start:
        return Days(problem=f"{name} ends {end} before it starts {start}")
    return _whole_days(float((end - start).days + 1), f"{name} {start} to {end}")


def read_bounds(dosages: object, start_date: str | None) -> tuple[Days, list[str]]:
    """The duration of the sig's first phase from ``timing.repeat.bounds[x]``, and problems met.

    Dosages of one ``sequence`` run together: when they give different bounds the sig does not say how long
    the course is, and no duration is returned (as `read_dosages`, later phases are not read).
    """
    items: Sequence[object] = (
        [dosages] if isinstance(dosages, Mapping) else dosages if isinstance(dosages, list) else []
    )
    usable = [d for d in items if isinstance(d, Mapping)]
    if not usable:
        return Days(), []
    first = usable[0].get("sequence", 1)
    readings: list[Days] = []
    for dosage in usable:
        if dosage.get("sequence", 1) != first:
            continue
        timing = dosage.get("timing")
        repeat: Any = timing.get("repeat") if isinstance(timing, Mapping) else None
        if not isinstance(repeat, Mapping):
            continue
        if "boundsDuration" in repeat:
            readings.append(read_duration(repeat["boundsDuration"], "boundsDuration"))
        elif "boundsPeriod" in repeat:
            readings.append(read_period(repeat["boundsPeriod"], "boundsPeriod", start_date))
        elif "boundsRange" in repeat:
            readings.append(Days(problem="boundsRange (a range of durations) is not read as a duration"))
    problems = [r.problem for r in readings if r.problem]
    found = sorted({r.days for r in readings if r.days is not None})
    if len(found) > 1:
        listed = ", ".join(str(d) for d in found)
        return Days(), [*problems, f"the sig's concurrent dosages have different bounds ({listed} days)"]
    return Days(found[0] if found else None), problems


def _positive(text: object) -> float | None:
    try:
        value = float(str(text))
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


def _quantity_days(
    quantity: object, quantity_unit: object, units_per_day: object, is_patch: bool
) -> tuple[bool, int | None]:
    """Whether quantity ÷ units per day gives the duration, and its days (None for patches, whose days
    need the wear time the exposure engine knows)."""
    amount, per_day = _positive(quantity), _positive(units_per_day)
    unit = quantity_unit.strip().lower() if isinstance(quantity_unit, str) else None
    if amount is None or per_day is None or (unit is not None and unit not in PRODUCT_UNITS):
        return False, None
    return True, None if is_patch else math.ceil(amount / per_day - 1e-9)


def _a_lot_longer(longer: int, shorter: int) -> bool:
    return longer >= CONFLICT_RATIO * shorter and longer - shorter >= CONFLICT_DAYS


def decide(
    record: str,
    stated_name: str,
    stated: Days,
    bounds: tuple[Days, list[str]],
    *,
    quantity: object,
    quantity_unit: object,
    units_per_day: object,
    as_needed: bool,
    is_patch: bool,
    assume_days: int | None = None,
) -> Supply:
    """The duration of one row by the module's precedence; `assume_days` only for orders."""
    bound, bound_problems = bounds
    usable, per_quantity = _quantity_days(quantity, quantity_unit, units_per_day, is_patch)
    days: int | None = None
    source: str | None = None
    if stated.days is not None:
        days, source = stated.days, STATED
    elif usable:
        source = QUANTITY_PER_DAY
    elif bound.days is not None:
        days, source = bound.days, SIG_BOUNDS
    broken = stated.problem is not None or bool(bound_problems)
    has_dose = _positive(units_per_day) is not None
    problems: list[tuple[str, str]] = []
    not_assumed: str | None = None
    if source is None and assume_days is not None:
        if broken:
            not_assumed = "the record states a duration that cannot be used"
        elif not has_dose:
            not_assumed = "the sig gives no daily dose (an assumed duration would set the dose as well)"
        else:
            days, source = assume_days, ASSUMED
    if stated.problem:
        problems.append((stated.kind, f"{record}: {stated.problem}; not used, {_USED[source]}"))
    for why in bound_problems:
        used = "the stated duration is used" if source == STATED else _USED[source]
        problems.append(("bad_duration", f"{record}: {why}; not used, {used}"))
    if not_assumed:
        problems.append(
            ("not_assumed", f"{record}: {ASSUME_OPTION} {assume_days} not applied: {not_assumed}")
        )
    supply = days if source == STATED else per_quantity if source == QUANTITY_PER_DAY else None
    # "As needed": quantity ÷ the sig's maximum is the shortest the supply can last, so only a stated
    # duration shorter than that contradicts it (the supply would be used faster than the maximum).
    if (
        source == STATED
        and days is not None
        and per_quantity is not None
        and (_a_lot_longer(per_quantity, days) or (not as_needed and _a_lot_longer(days, per_quantity)))
    ):
        problems.append((
            "conflicting_duration",
            f"{record}: {stated_name} is {days} days but quantity {quantity} ÷ {units_per_day} units/day"
            f" is {per_quantity} days; the stated {days} days is kept",
        ))  # fmt: skip
    if supply is not None and bound.days is not None and _a_lot_longer(supply, bound.days):
        what = f"{stated_name} is" if source == STATED else "quantity ÷ units per day is"
        problems.append((
            "conflicting_duration",
            f"{record}: {what} {supply} days, longer than the sig's course of {bound.days} days; "
            f"the {supply} days is kept",
        ))  # fmt: skip
    return Supply(None if days is None else str(days), source, tuple(problems))
