"""Follow-up dates and the plan summary (duration, the rate actually achieved, assumptions).

Follow-ups: 1-4 weeks after each change (VA), at least monthly during any taper (CDC), and soon after the
last change because tolerance is lost within about a week; the numbers are in rules.json `follow_up`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from taperwise.taper.courses import DrugCourse, taper_order
from taperwise.taper.jsonvalues import plain, to_json_number
from taperwise.taper.plan import FollowUpVisit, Step
from taperwise.taper.request import Pace, TaperRequest
from taperwise.taper.rules import TaperRules
from taperwise.taper.safety import step_rate

if TYPE_CHECKING:
    from taperwise.taper.engine import Period
    from taperwise.taper.stepping import Change

_CHANGES = ("reduction", "interval_extension", "stop")


def follow_up_visits(
    steps: Sequence[Step], courses: Mapping[int, DrugCourse], rules: TaperRules
) -> tuple[FollowUpVisit, ...]:
    max_gap = rules.days("follow_up", "max_gap_days")
    visits: dict[date, str] = {}
    for step in steps:
        last = step.end_date is None
        # the drug changed sets the timing (methadone's long half-life: a later review)
        ingredients: list[str | None] = [courses[c.regimen_index].spec.ingredient for c in step.changes]
        ingredients = ingredients or [None]
        after_change = max(rules.follow_up_days("days_after_change", i) for i in ingredients)
        after_last = max(rules.follow_up_days("after_last_change_days", i) for i in ingredients)
        if step.kind in _CHANGES:
            days = after_last if last else min(after_change, step.days or after_change)
            visits.setdefault(
                step.start_date + timedelta(days=days),
                f"review {days} days after the change of {step.start_date.isoformat()}",
            )
        elif step.kind == "hold":
            days = after_last if last else step.days or after_last
            visits.setdefault(
                step.start_date + timedelta(days=days),
                "reassess before reductions resume" if not last else "review the held dose",
            )
        if last and step.administrations:  # a dose kept from here on: reviewed again a month later
            maintenance = rules.days("follow_up", "maintenance_review_days")
            visits.setdefault(
                step.start_date + timedelta(days=maintenance),
                "review the dose now kept (then at least every 3 months)",
            )
    previous = steps[0].start_date
    for day in sorted(visits):
        while (day - previous).days > max_gap:
            previous += timedelta(days=max_gap)
            visits.setdefault(previous, "at least monthly during a taper")
        previous = day
    return tuple(FollowUpVisit(day, visits[day]) for day in sorted(visits))


def _va_tier(percent: Decimal, every_days: int, rules: TaperRules) -> str:
    for tier in rules.raw["va_tiers"]:
        in_range = Decimal(str(tier["min_percent"])) <= percent <= Decimal(str(tier["max_percent"]))
        if in_range and int(tier["min_every_days"]) <= every_days <= int(tier["max_every_days"]):
            return str(tier["id"])
    return "outside the VA tiers"


def _drug_summary(
    course: DrugCourse, pace: Pace, periods: Sequence[Period], rules: TaperRules
) -> dict[str, Any]:
    mine = _changes_by_day(periods, course.index)
    final = periods[-1].dosings[course.index].daily
    first_step = pace.requested_step(course.original_daily, course.original_daily)
    requested_percent = first_step / course.original_daily * 100
    days = _span(mine)
    reduced = (course.original_daily - final) / course.original_daily * 100
    fastest = max((step_rate(course, c.achieved, c.days, 28) for _, c in mine), default=None)
    return {
        "regimen_index": course.index,
        "drug": course.drug,
        "ingredient": course.spec.ingredient,
        "unit": course.dose_unit,
        "original_daily": to_json_number(course.original_daily),
        "final_daily": to_json_number(final),
        "pace": pace.describe(course.dose_unit),
        "pace_rule": pace.rule_id,
        "va_tier": _va_tier(requested_percent, pace.every_days, rules),
        "changes": len(mine),
        "requested_percent_of_original_per_28_days": float(
            round(requested_percent * 28 / pace.every_days, 1)
        ),
        "achieved_percent_of_original_per_28_days": float(round(reduced * 28 / days, 1)) if days else 0.0,
        "fastest_step_percent_of_original_per_28_days": None if fastest is None else float(round(fastest, 1)),
    }


def _changes_by_day(periods: Sequence[Period], index: int) -> list[tuple[int, Change]]:
    """One drug's changes with the day of the plan each starts."""
    out, day = [], 0
    for period in periods:
        out += [(day, change) for i, change in period.changes if i == index]
        day += period.days or 0
    return out


def _span(changes: list[tuple[int, Change]]) -> int:
    """The days a drug's reductions took: from its first change to its stop (the time the stop needed
    came before it), else to the end of the time its last change earned; a plan that opens with the
    stop counts the days the dose was kept before it."""
    if not changes:
        return 0
    (first_day, first), (last_day, last) = changes[0], changes[-1]
    span = last_day - first_day + (0 if last.kind == "stop" else last.days)
    return span + (first.days if first.kind == "stop" else 0)


def _assumptions(request: TaperRequest, courses: Mapping[int, DrugCourse], rules: TaperRules) -> list[str]:
    together = (
        "drugs change together at the same steps, as asked (concurrent_changes)"
        if request.concurrent_changes
        else "drugs are tapered one at a time"
    )
    market = request.market or "US and UK (the union; set 'market' to restrict)"
    max_days = request.max_days_per_dispense or rules.max_days_per_instalment(request.market)
    reasons = rules.raw["dispense"]["instalment_reasons"]
    max_why = "as requested" if request.max_days_per_dispense else str(reasons[request.market or "both"])
    out = [
        f"MME from factor set {request.factor_set} via the project's one MME function; MME is summed for the "
        "goal and the warnings and never used to convert one opioid into another.",
        f"Percentages apply to each drug's own original daily dose; {together}.",
        "Whole units only: no tablet is cut, patches in real strengths, liquids in whole oral-syringe "
        "measures; a dose uses the fewest units, and a new dose at most "
        f"{rules.raw['simple_regimens']['max_strengths_per_dose']} strengths and "
        f"{rules.raw['simple_regimens']['max_units_per_dose']} units unless the regimen item allows more.",
        "The agreed pace is a ceiling: a step larger than the requested one is given a longer interval, and "
        "the final stop comes only after the last dose has been kept for the time it earns.",
        f"Catalogue strengths and pack sizes for the market: {market}.",
        f"Dispensed in instalments of at most {max_days} days ({max_why}).",
        f"Taper rules version {rules.version} (knowledge/data/taper).",
    ]
    if request.setting != "community":
        out.append(f"Setting: {request.setting}.")
    for index, course in sorted(courses.items()):
        source = "from the request" if course.strengths_given else "from the catalogue"
        if course.is_liquid:
            source = f"its own concentration, measured in {plain(course.increment_ml or Decimal(0))} mL steps"
            source += f"; bottles {', '.join(str(b) for b in course.bottle_sizes) or 'unknown'} mL"
        out.append(f"{course.drug}: every dose is {course.describe_units()} ({source}).")
        if course.is_combination:
            partners = ", ".join(
                f"{course.partner_name(p.ingredient)} {plain(p.strength)} mg" for p in course.spec.partners
            )
            same = " (assumed the same in every strength given)" if course.strengths_given else ""
            out.append(
                f"{course.drug}: a combination, tapered only in its own strengths; each unit also holds "
                f"{partners}{same}, and no dose takes more units than the one before it."
            )
        if request.regimen[index].as_needed:
            out.append(f"{course.drug}: taken as needed; tapered from the agreed scheduled equivalent.")
    return out


def _partners_summary(
    request: TaperRequest, courses: Mapping[int, DrugCourse], steps: Sequence[Step], rules: TaperRules
) -> list[dict[str, Any]]:
    """Each combination partner's daily total at the start and the end, and this patient's maximum."""
    out = []
    factors = request.patient_factors
    for ingredient in sorted({p.ingredient for c in courses.values() for p in c.spec.partners}):
        first, final = steps[0].daily_dose[ingredient], steps[-1].daily_dose[ingredient]
        rule = rules.partner(ingredient)
        maximum, why = rule.maximum(factors.liver_disease, factors.weight_kg) if rule else (None, "")
        out.append(
            {
                "ingredient": ingredient,
                "name": first.name,
                "baseline_daily_mg": to_json_number(first.amount),
                "final_daily_mg": to_json_number(final.amount),
                "max_daily_mg": None if maximum is None else to_json_number(maximum),
                "max_reason": why,
            }
        )
    return out


def plan_summary(
    request: TaperRequest,
    courses: Mapping[int, DrugCourse],
    paces: Mapping[int, Pace],
    periods: Sequence[Period],
    steps: Sequence[Step],
    rules: TaperRules,
) -> dict[str, Any]:
    """`steps` starts with the baseline."""
    baseline, final = steps[0], steps[-1]
    goal_met = final.daily_mme <= (request.goal.value or Decimal(0))
    return {
        "start_date": baseline.start_date.isoformat(),
        "goal_date": final.start_date.isoformat(),
        "duration_days": (final.start_date - baseline.start_date).days,
        "goal": request.goal.to_dict(),
        "goal_reached": goal_met,
        "baseline_daily_mme": to_json_number(baseline.daily_mme),
        "final_daily_mme": to_json_number(final.daily_mme),
        "order": taper_order(request, courses),
        "drugs": [_drug_summary(courses[i], paces[i], periods, rules) for i in sorted(courses)],
        "partners": _partners_summary(request, courses, steps, rules),
        "assumptions": _assumptions(request, courses, rules),
    }
