"""Turning doses in force into what a patient and a pharmacy see: administrations, MME, dispensing.

``daily_mme`` comes only from :func:`taperwise.exposure.dose.daily_mme`, the project's one MME function, per
drug and summed; MME is never used to convert one opioid into another.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal

from taperwise.errors import RequestValidationError
from taperwise.exposure.dose import NoFactorError, daily_mme
from taperwise.taper.courses import DrugCourse
from taperwise.taper.plan import Administration, DailyDose, DispenseLine, UnitLine
from taperwise.taper.stepping import Dosing


def administrations(course: DrugCourse, dosing: Dosing) -> tuple[Administration, ...]:
    out = []
    for time, dose in zip(dosing.times, dosing.doses, strict=True):
        units = tuple(
            UnitLine(course.unit_label(u.strength), u.strength, course.spec.unit, u.count)
            for u in course.strengths.units(dose)
        )
        out.append(Administration(course.index, course.drug, time, units, dose, course.spec.unit))
    return tuple(out)


def course_mme(course: DrugCourse, dosing: Dosing, factor_set: str) -> Decimal:
    if dosing.stopped:
        return Decimal(0)
    try:
        return daily_mme(
            course.spec.ingredient, course.spec.route, dosing.daily, course.spec.unit, factor_set
        ).daily_mme
    except NoFactorError as exc:
        raise RequestValidationError(f"regimen[{course.index}].drug", str(exc)) from exc


def total_mme(courses: Mapping[int, DrugCourse], dosings: Mapping[int, Dosing], factor_set: str) -> Decimal:
    return sum((course_mme(courses[i], dosings[i], factor_set) for i in sorted(courses)), Decimal(0))


def daily_doses(courses: Mapping[int, DrugCourse], dosings: Mapping[int, Dosing]) -> dict[str, DailyDose]:
    """Daily dose per ingredient (same ingredient and unit summed, e.g. morphine ER + IR)."""
    totals: dict[str, DailyDose] = {}
    for index in sorted(courses):
        spec = courses[index].spec
        before = totals.get(spec.ingredient)
        amount = dosings[index].daily + (before.amount if before else Decimal(0))
        totals[spec.ingredient] = DailyDose(amount, spec.unit)
    return totals


def dispense(course: DrugCourse, dosing: Dosing, days: int) -> tuple[DispenseLine, ...]:
    """Units of each strength for `days`; patches by application (one per wear period), in whole boxes."""
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
            )
        )
    return tuple(lines)
