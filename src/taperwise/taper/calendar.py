"""Turning doses in force into what a patient and a pharmacy see: administrations, MME, dispensing.

``daily_mme`` comes only from :func:`taperwise.exposure.dose.daily_mme`, the project's one MME function, per
drug and summed; MME is never used to convert one opioid into another. Oral liquids are shown in mL per
administration and supplied in whole bottles (the fewest millilitres that cover the step, then the fewest
bottles), because a pharmacy cannot split a bottle and a patient must not run out mid-step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal

from taperwise.errors import RequestValidationError
from taperwise.exposure.dose import NoFactorError, daily_mme
from taperwise.taper.courses import DrugCourse
from taperwise.taper.plan import Administration, DailyDose, DispenseLine, Instalment, PartnerLine, UnitLine
from taperwise.taper.stepping import Dosing


def partner_lines(course: DrugCourse, strength: Decimal) -> tuple[PartnerLine, ...]:
    """The partner(s) one unit of this strength carries, named as its market names them."""
    return tuple(
        PartnerLine(p.ingredient, course.partner_name(p.ingredient), p.strength, p.unit)
        for p in course.unit_partners(strength)
    )


def administrations(course: DrugCourse, dosing: Dosing) -> tuple[Administration, ...]:
    out = []
    for time, dose in zip(dosing.times, dosing.doses, strict=True):
        if course.is_liquid:
            volume = course.volume_ml(dose)
            units: tuple[UnitLine, ...] = (
                UnitLine(course.unit_label(dose), course.spec.concentration or dose, "mg/mL", 1, volume),
            )
        else:
            volume = None
            units = tuple(
                UnitLine(
                    course.unit_label(u.strength),
                    u.strength,
                    course.spec.unit,
                    u.count,
                    partners=partner_lines(course, u.strength),
                )
                for u in course.strengths.units(dose)
            )
        out.append(Administration(course.index, course.drug, time, units, dose, course.dose_unit, volume))
    return tuple(out)


def course_mme(course: DrugCourse, dosing: Dosing, factor_set: str) -> Decimal:
    if dosing.stopped:
        return Decimal(0)
    try:
        return daily_mme(
            course.spec.ingredient, course.spec.route, dosing.daily, course.dose_unit, factor_set
        ).daily_mme
    except NoFactorError as exc:
        raise RequestValidationError(f"regimen[{course.index}].drug", str(exc)) from exc


def total_mme(courses: Mapping[int, DrugCourse], dosings: Mapping[int, Dosing], factor_set: str) -> Decimal:
    return sum((course_mme(courses[i], dosings[i], factor_set) for i in sorted(courses)), Decimal(0))


def daily_doses(courses: Mapping[int, DrugCourse], dosings: Mapping[int, Dosing]) -> dict[str, DailyDose]:
    """Daily dose per ingredient (same ingredient and unit summed, e.g. morphine ER + IR), and the daily
    total of each combination partner (the paracetamol in co-codamol), marked as a partner."""
    totals: dict[str, DailyDose] = {}
    for index in sorted(courses):
        spec = courses[index].spec
        before = totals.get(spec.ingredient)
        amount = dosings[index].daily + (before.amount if before else Decimal(0))
        totals[spec.ingredient] = DailyDose(amount, spec.dose_unit)
    for index in sorted(courses):
        course = courses[index]
        for ingredient, amount in partner_daily(course, dosings[index]).items():
            before = totals.get(ingredient)
            total = amount + (before.amount if before else Decimal(0))
            totals[ingredient] = DailyDose(total, "mg", partner=True, name=course.partner_name(ingredient))
    return totals


def partner_daily(course: DrugCourse, dosing: Dosing) -> dict[str, Decimal]:
    """mg a day of each partner of a combination at these doses (empty for a single-ingredient drug)."""
    if not course.is_combination:
        return {}
    totals = {p.ingredient: Decimal(0) for p in course.spec.partners}
    for dose in dosing.doses:
        for unit in course.strengths.units(dose):
            for partner in course.unit_partners(unit.strength):
                totals[partner.ingredient] += partner.strength * unit.count
    return totals


def dispense(course: DrugCourse, dosing: Dosing, days: int) -> tuple[DispenseLine, ...]:
    """Units of each strength for `days`; patches by application (one per wear period), in whole boxes;
    liquids in mL, in whole bottles when the bottle sizes are known."""
    if course.is_liquid:
        return _dispense_liquid(course, dosing, days)
    per_strength: dict[Decimal, int] = {}
    for dose in dosing.doses:
        for unit in course.strengths.units(dose):
            per_strength[unit.strength] = per_strength.get(unit.strength, 0) + unit.count
    if course.is_patch:
        wear = course.spec.wear_hours or 24
        periods = math.ceil(Decimal(days * 24) / wear)
    else:
        periods = days
    lines = []
    for strength, count in sorted(per_strength.items(), reverse=True):
        quantity = count * periods
        boxes = None
        if course.whole_boxes and course.units_per_box:
            boxes = math.ceil(quantity / course.units_per_box)
            quantity = boxes * course.units_per_box
        lines.append(
            DispenseLine(
                course.unit_label(strength),
                strength,
                course.spec.unit,
                quantity,
                boxes,
                course.units_per_box if boxes is not None else None,
                course.spec.dose_form,
                partners=partner_lines(course, strength),
            )
        )
    return tuple(lines)


def instalments(
    courses: Mapping[int, DrugCourse], dosings: Mapping[int, Dosing], start: date, days: int, max_days: int
) -> tuple[Instalment, ...]:
    """The supplies of a step of `days` days: as few as the limit of `max_days` allows, of even length
    (84 days in three of 28, 33 in 17 and 16, never 30 and 3), whole boxes and bottles in each since each
    is dispensed on its own, in date order; none when nothing is taken."""
    if all(dosings[i].stopped for i in courses):
        return ()
    count = math.ceil(days / max_days)
    lengths = [days // count + (1 if n < days % count else 0) for n in range(count)]
    out, first = [], start
    for length in lengths:
        lines = tuple(line for i in sorted(courses) for line in dispense(courses[i], dosings[i], length))
        out.append(Instalment(first, first + timedelta(days=length - 1), lines))
        first += timedelta(days=length)
    return tuple(out)


def total_dispensed(parts: tuple[Instalment, ...]) -> tuple[DispenseLine, ...]:
    """A step's instalments added up, line by line (one line per product strength)."""
    totals: dict[tuple[str, Decimal], DispenseLine] = {}
    for part in parts:
        for line in part.dispense:
            key = (line.drug, line.strength)
            totals[key] = totals[key].plus(line) if key in totals else line
    return tuple(totals.values())


def _dispense_liquid(course: DrugCourse, dosing: Dosing, days: int) -> tuple[DispenseLine, ...]:
    if dosing.stopped:
        return ()
    needed = math.ceil(sum((course.volume_ml(d) for d in dosing.doses), Decimal(0)) * days)
    bottles = whole_bottles(needed, course.bottle_sizes)
    quantity = sum(ml * count for ml, count in bottles) if bottles else needed
    concentration = course.spec.concentration or Decimal(0)
    label = course.unit_label(concentration)
    return (DispenseLine(label, concentration, "mg/mL", quantity, None, None, "mL", bottles),)


def whole_bottles(needed_ml: int, sizes: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """The bottles covering `needed_ml` with the least volume left over, then the fewest bottles;
    ((mL, count), ...) largest first. () when no bottle size is known."""
    if not sizes or needed_ml <= 0:
        return ()
    best: dict[int, tuple[int, ...]] = {0: ()}  # total mL -> fewest bottles making it
    limit = needed_ml + max(sizes)
    for total in range(1, limit + 1):
        options = [best[total - s] + (s,) for s in sizes if total - s in best]
        if options:
            best[total] = min(options, key=len)
    total = min(t for t in best if t >= needed_ml)
    counts: dict[int, int] = {}
    for size in best[total]:
        counts[size] = counts.get(size, 0) + 1
    return tuple(sorted(counts.items(), reverse=True))
