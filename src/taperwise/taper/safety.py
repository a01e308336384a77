"""Guideline concerns about the pace of a plan: rate checks, rapid steps, rounding, the total across drugs.

The engine never hides a concern: it shows every one, with its severity and source, and the clinician
decides (DOMAIN: "the clinician decides, the system informs"). Only two things are refused outright, in the
engine: steps of days after long-term use without a supervised setting (R-3), and plans beyond the
plausibility limits. Each code, severity and message lives in ``knowledge/data/taper/warnings.csv``;
thresholds in ``rules.json``. Concerns about the patient, the drugs and the regimen are in `concerns`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from taperwise.taper.courses import DrugCourse
from taperwise.taper.jsonvalues import plain
from taperwise.taper.plan import Step, Warning
from taperwise.taper.request import RAPID_OVERRIDE, TaperRequest
from taperwise.taper.rules import TaperRules

if TYPE_CHECKING:
    from taperwise.taper.engine import Period
    from taperwise.taper.stepping import Change


def make_warning(
    rules: TaperRules,
    code: str,
    *,
    drug_index: int | None = None,
    at_steps: Sequence[int] = (),
    **fields: Any,
) -> Warning:
    """A warning from its row in warnings.csv, the message filled from `fields`."""
    rule = rules.warnings[code]
    message = rule.message.format(**fields)
    return Warning(code, rule.severity, message, rules.cite(rule.source_id), drug_index, tuple(at_steps))


def step_rate(course: DrugCourse, achieved: Decimal, days: int, per_days: int) -> Decimal:
    """Reduction as % of the drug's original daily dose per `per_days` days."""
    return achieved / course.original_daily * 100 * per_days / days


def steps_text(steps: Sequence[int]) -> str:
    return ", ".join(str(n) for n in steps)


def _per_drug(periods: Sequence[Period]) -> dict[int, list[tuple[int, Change]]]:
    """Each drug's changes with the number of the step they start."""
    out: dict[int, list[tuple[int, Change]]] = {}
    for number, period in enumerate(periods, start=1):
        for index, change in period.changes:
            out.setdefault(index, []).append((number, change))
    return out


def rate_warnings(
    request: TaperRequest,
    courses: Mapping[int, DrugCourse],
    periods: Sequence[Period],
    steps: Sequence[Step],
    rules: TaperRules,
) -> list[Warning]:
    """Per drug and per change: faster than the guideline (R-1/R-2), beyond the VA tiers (R-4), steps of
    days (R-3), and rounding that lengthened an interval or a simple dose that made a step coarser; and,
    across drugs, the total MME falling faster than one drug may (R-5)."""
    out: list[Warning] = []
    for index, changes in sorted(_per_drug(periods).items()):
        course = courses[index]
        out += _drug_rates(request, course, changes, rules)
        out += _rounding(course, changes, rules)
    out += combined_rate(request, periods, steps, rules)
    return out


def _drug_rates(
    request: TaperRequest, course: DrugCourse, changes: list[tuple[int, Change]], rules: TaperRules
) -> list[Warning]:
    check = rules.rate_check_for(request.opioid_use_days)
    va = rules.raw["va_fastest"]
    va_limit, va_days = Decimal(str(va["max_percent_of_original"])), int(va["per_days"])
    fast = [(n, step_rate(course, c.achieved, c.days, check.per_days)) for n, c in changes]
    fast = [(n, rate) for n, rate in fast if rate > check.threshold]
    beyond = [(n, step_rate(course, c.achieved, c.days, va_days)) for n, c in changes]
    beyond = [(n, rate) for n, rate in beyond if rate > va_limit]
    rapid = [(n, c.days) for n, c in changes if c.days < rules.days("rapid", "below_days")]
    large_limit = rules.number("large_step", "max_percent_of_original")
    large = [(n, c.achieved / course.original_daily * 100) for n, c in changes if c.kind == "reduction"]
    large = [(n, share) for n, share in large if share > large_limit]
    out = []
    where = {"drug": course.drug}
    if large:
        numbers = [n for n, _ in large]
        top = plain(round(max(share for _, share in large), 1))
        out.append(
            make_warning(
                rules,
                "large_step",
                drug_index=course.index,
                at_steps=numbers,
                steps=steps_text(numbers),
                percent=top,
                **where,
            )
        )
    if fast:
        numbers = [n for n, _ in fast]
        top = plain(round(max(r for _, r in fast), 1))
        out.append(
            make_warning(
                rules,
                check.warning,
                drug_index=course.index,
                at_steps=numbers,
                steps=steps_text(numbers),
                rate=top,
                **where,
            )
        )
    if beyond:
        numbers = [n for n, _ in beyond]
        top = plain(round(max(r for _, r in beyond), 1))
        out.append(
            make_warning(
                rules,
                str(va["warning"]),
                drug_index=course.index,
                at_steps=numbers,
                steps=steps_text(numbers),
                rate=top,
                **where,
            )
        )
    if rapid:
        setting = _supervision(request)
        out.append(
            make_warning(
                rules,
                "rapid_taper",
                drug_index=course.index,
                at_steps=[n for n, _ in rapid],
                days=min(d for _, d in rapid),
                setting=setting,
                **where,
            )
        )
    return out


def _supervision(request: TaperRequest) -> str:
    reason = request.override(RAPID_OVERRIDE)
    if reason is not None:
        return f"recorded: {reason.by}, {reason.reason}"
    if request.setting == "inpatient":
        return "recorded: an inpatient setting"
    return "none recorded"


def _rounding(course: DrugCourse, changes: list[tuple[int, Change]], rules: TaperRules) -> list[Warning]:
    out = []
    longer = [(n, c) for n, c in changes if c.lengthened]
    if longer:
        numbers = [n for n, _ in longer]
        first_number, first = longer[0]
        out.append(
            make_warning(
                rules,
                "interval_lengthened",
                drug_index=course.index,
                at_steps=numbers,
                drug=course.drug,
                steps=steps_text(numbers),
                first=first_number,
                achieved=plain(first.achieved),
                requested=plain(round(first.requested, 2)),
                unit=course.dose_unit,
                days=max(c.days for _, c in longer),
            )
        )
    coarser = [(n, c) for n, c in changes if c.finer]
    if coarser:
        simple = course.strengths
        out.append(
            make_warning(
                rules,
                "simple_regimen",
                drug_index=course.index,
                at_steps=[n for n, _ in coarser],
                drug=course.drug,
                needs=coarser[0][1].finer,
                max_strengths=simple.max_strengths,
                max_units=simple.max_units,
                steps=steps_text([n for n, _ in coarser]),
                index=course.index,
            )
        )
    return out


def combined_rate(
    request: TaperRequest, periods: Sequence[Period], steps: Sequence[Step], rules: TaperRules
) -> list[Warning]:
    """R-5: over every window of the rate check's length that starts at a change and holds changes of
    two or more drugs, the fall in total daily MME as a share of the baseline total (`steps` starts with
    the baseline)."""
    check = rules.rate_check_for(request.opioid_use_days)
    baseline = steps[0].daily_mme
    if baseline <= 0:
        return []
    worst: tuple[Decimal, int] | None = None
    flagged: set[int] = set()
    for i in range(1, len(steps)):
        start = steps[i].start_date
        if not periods[i - 1].changes:
            continue
        inside = [
            j for j in range(i, len(steps)) if steps[j].start_date < start + timedelta(days=check.per_days)
        ]
        drugs = {index for j in inside for index, _ in periods[j - 1].changes}
        if len(drugs) < 2:
            continue
        rate = (steps[i - 1].daily_mme - steps[inside[-1]].daily_mme) / baseline * 100
        if rate > check.threshold:
            flagged.update(steps[j].number for j in inside if periods[j - 1].changes)
            if worst is None or rate > worst[0]:
                worst = (rate, i)
    if worst is None:
        return []
    rate, i = worst
    return [
        make_warning(
            rules,
            str(rules.raw["combined_rate"]["warning"]),
            at_steps=sorted(flagged),
            rate=plain(round(rate, 1)),
            baseline=plain(round(baseline, 1)),
            days=check.per_days,
            start=steps[i].start_date.isoformat(),
            limit=plain(round(check.threshold, 1)),
        )
    ]
