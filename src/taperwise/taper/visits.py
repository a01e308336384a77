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

_CHANGES = ("reduction", "interval_extension", "stop")


def follow_up_visits(steps: Sequence[Step], rules: TaperRules) -> tuple[FollowUpVisit, ...]:
    after_change = rules.days("follow_up", "days_after_change")
    after_last = rules.days("follow_up", "after_last_change_days")
    max_gap = rules.days("follow_up", "max_gap_days")
    visits: dict[date, str] = {}
    for step in steps:
        last = step.end_date is None
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


def _pace_text(pace: Pace, unit: str) -> str:
    amount = f"{plain(pace.reduction)} {unit}/day" if pace.unit == "absolute" else f"{plain(pace.reduction)}%"
    basis = {"percent_of_original": " of the original dose", "percent_of_current": " of the current dose"}
    text = f"{amount}{basis.get(pace.unit, '')} every {pace.every_days} days"
    if pace.then is not None and pace.until_percent_of_original is not None:
        text += (
            f" until {plain(pace.until_percent_of_original)}% of the original remains, then "
            f"{_pace_text(pace.then, unit)}"
        )
    return text


def _drug_summary(
    course: DrugCourse, pace: Pace, periods: Sequence[Period], rules: TaperRules
) -> dict[str, Any]:
    mine = [change for p in periods for index, change in p.changes if index == course.index]
    final = periods[-1].dosings[course.index].daily
    first_step = pace.requested_step(course.original_daily, course.original_daily)
    requested_percent = first_step / course.original_daily * 100
    days = sum(change.days for change in mine)
    reduced = (course.original_daily - final) / course.original_daily * 100
    fastest = max((step_rate(course, c.achieved, c.days, 28) for c in mine), default=None)
    return {
        "regimen_index": course.index,
        "drug": course.drug,
        "ingredient": course.spec.ingredient,
        "unit": course.dose_unit,
        "original_daily": to_json_number(course.original_daily),
        "final_daily": to_json_number(final),
        "pace": _pace_text(pace, course.dose_unit),
        "pace_rule": pace.rule_id,
        "va_tier": _va_tier(requested_percent, pace.every_days, rules),
        "changes": len(mine),
        "requested_percent_of_original_per_28_days": float(
            round(requested_percent * 28 / pace.every_days, 1)
        ),
        "achieved_percent_of_original_per_28_days": float(round(reduced * 28 / days, 1)) if days else 0.0,
        "fastest_step_percent_of_original_per_28_days": None if fastest is None else float(round(fastest, 1)),
    }


def _assumptions(request: TaperRequest, courses: Mapping[int, DrugCourse], rules: TaperRules) -> list[str]:
    together = (
        "drugs change together at the same steps, as asked (concurrent_changes)"
        if request.concurrent_changes
        else "drugs are tapered one at a time"
    )
    market = request.market or "US and UK (the union; set 'market' to restrict)"
    out = [
        f"MME from factor set {request.factor_set} via the project's one MME function; MME is summed for the "
        "goal and the warnings and never used to convert one opioid into another.",
        f"Percentages apply to each drug's own original daily dose; {together}.",
        "Whole units only: no tablet is cut, patches in real strengths, liquids in whole oral-syringe "
        "measures; combinations use the fewest units.",
        f"Catalogue strengths and pack sizes for the market: {market}.",
        f"Taper rules version {rules.version} (knowledge/data/taper).",
    ]
    for index, course in sorted(courses.items()):
        given = request.regimen[index].strengths is not None
        source = "from the request" if given else "from the catalogue"
        if course.is_liquid:
            source = f"its own concentration, measured in {plain(course.increment_ml or Decimal(0))} mL steps"
            source += f"; bottles {', '.join(str(b) for b in course.bottle_sizes) or 'unknown'} mL"
        out.append(f"{course.drug}: every dose is {course.describe_units()} ({source}).")
        if request.regimen[index].as_needed:
            out.append(f"{course.drug}: taken as needed; tapered from the agreed scheduled equivalent.")
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
        "assumptions": _assumptions(request, courses, rules),
    }
