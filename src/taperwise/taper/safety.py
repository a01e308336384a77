"""Guideline concerns on a plan: rate checks, patient factors, special drugs, naloxone.

The engine never refuses a plan because of a concern: it shows every one, with its severity and source,
and the clinician decides (DOMAIN: "the clinician decides, the system informs"). Each code, severity and
message lives in ``knowledge/data/taper/warnings.csv``; thresholds in ``rules.json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from taperwise.taper.courses import DrugCourse
from taperwise.taper.jsonvalues import plain
from taperwise.taper.plan import Step, Warning
from taperwise.taper.request import PatientFactors, TaperRequest
from taperwise.taper.rules import TaperRules

if TYPE_CHECKING:
    from taperwise.taper.engine import Period


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


def _rate_warnings(
    request: TaperRequest, courses: Mapping[int, DrugCourse], periods: Sequence[Period], rules: TaperRules
) -> list[Warning]:
    check = rules.rate_check_for(request.opioid_use_days)
    rapid_below = rules.days("rapid", "below_days")
    fast: dict[int, list[tuple[int, Decimal]]] = {}
    rapid: dict[int, list[tuple[int, int]]] = {}
    longer: dict[int, list[tuple[int, Any]]] = {}
    for number, period in enumerate(periods, start=1):
        for index, change in period.changes:
            rate = step_rate(courses[index], change.achieved, change.days, check.per_days)
            if rate > check.threshold:
                fast.setdefault(index, []).append((number, rate))
            if change.days < rapid_below:
                rapid.setdefault(index, []).append((number, change.days))
            if change.lengthened:
                longer.setdefault(index, []).append((number, change))
    out = []
    for index, hits in fast.items():
        out.append(
            make_warning(
                rules,
                check.warning,
                drug_index=index,
                at_steps=[n for n, _ in hits],
                **_where(courses[index], [n for n, _ in hits]),
                rate=plain(round(max(r for _, r in hits), 1)),
            )
        )
    for index, days in rapid.items():
        out.append(
            make_warning(
                rules,
                "rapid_taper",
                drug_index=index,
                at_steps=[n for n, _ in days],
                days=min(d for _, d in days),
                **_where(courses[index], [n for n, _ in days]),
            )
        )
    for index, changes in longer.items():
        first = changes[0][1]
        out.append(
            make_warning(
                rules,
                "interval_lengthened",
                drug_index=index,
                at_steps=[n for n, _ in changes],
                achieved=plain(first.achieved),
                requested=plain(round(first.requested, 2)),
                unit=courses[index].dose_unit,
                days=first.days,
                **_where(courses[index], [n for n, _ in changes]),
            )
        )
    return out


def _where(course: DrugCourse, steps: Sequence[int]) -> dict[str, str]:
    return {"drug": course.drug, "steps": ", ".join(str(n) for n in steps)}


def _patch_warnings(
    courses: Mapping[int, DrugCourse], periods: Sequence[Period], rules: TaperRules
) -> list[Warning]:
    out = []
    for number, period in enumerate(periods, start=1):
        for index, change in period.changes:
            if change.kind == "stop" and courses[index].is_patch:
                out.append(
                    make_warning(
                        rules,
                        "patch_last_step",
                        drug_index=index,
                        at_steps=[number],
                        drug=courses[index].drug,
                        strength=plain(courses[index].strengths.smallest),
                    )
                )
    return out


def _regimen_warnings(
    request: TaperRequest, courses: Mapping[int, DrugCourse], periods: Sequence[Period], rules: TaperRules
) -> list[Warning]:
    """Concerns that come from how the regimen is taken: together, as needed, measured as a liquid."""
    out = []
    together = [number for number, period in enumerate(periods, start=1) if len(period.changes) > 1]
    if together:
        steps = ", ".join(str(n) for n in together)
        out.append(make_warning(rules, "concurrent_changes", at_steps=together, steps=steps))
    for index, course in sorted(courses.items()):
        item = request.regimen[index]
        if item.as_needed:
            maximum = item.as_needed_doses
            out.append(
                make_warning(
                    rules,
                    "as_needed_scheduled",
                    drug_index=index,
                    drug=course.drug,
                    doses=plain(course.original_daily),
                    maximum=f"up to {plain(sum(maximum, Decimal(0)))} mg/day" if maximum else "as needed",
                )
            )
        if course.increment_ml is not None and course.spec.concentration is not None:
            out.append(
                make_warning(
                    rules,
                    "liquid_measure",
                    drug_index=index,
                    drug=course.drug,
                    increment=plain(course.increment_ml),
                    concentration=plain(course.spec.concentration),
                )
            )
    return out


def _patient_warnings(factors: PatientFactors, rules: TaperRules) -> list[Warning]:
    out = []
    oud_minimum = int(rules.raw["oud"]["min_dsm5_criteria"])
    if factors.suspected_oud or (factors.dsm5_oud_criteria or 0) >= oud_minimum:
        out.append(make_warning(rules, "suspected_oud"))
    if factors.suicide_risk or (factors.phq9_item9 or 0) > int(rules.raw["suicide"]["phq9_item9_above"]):
        out.append(make_warning(rules, "suicide_risk"))
    if factors.pregnant:
        out.append(make_warning(rules, "pregnancy"))
    if factors.benzodiazepine:
        out.append(make_warning(rules, "benzodiazepine"))
    return out


def _naloxone(factors: PatientFactors, baseline_mme: Decimal, rules: TaperRules) -> Warning:
    reasons = ["during and after any taper"]
    threshold = rules.number("naloxone", "mme_at_least")
    if baseline_mme >= threshold:
        reasons.append(f"{plain(round(baseline_mme, 1))} MME/day, at or above {plain(threshold)}")
    named = {
        "benzodiazepine": "a benzodiazepine as well",
        "prior_overdose": "a previous overdose",
        "substance_use_disorder": "a substance use disorder",
        "sleep_apnoea": "sleep apnoea",
    }
    reasons += [text for name, text in named.items() if getattr(factors, name)]
    return make_warning(rules, "naloxone", reasons="; ".join(reasons))


def plan_warnings(
    request: TaperRequest,
    courses: Mapping[int, DrugCourse],
    baseline: Step,
    periods: Sequence[Period],
    steps: Sequence[Step],
    rules: TaperRules,
) -> tuple[Warning, ...]:
    out = _patient_warnings(request.patient_factors, rules)
    out += [
        make_warning(rules, "methadone", drug_index=i)
        for i, c in courses.items()
        if c.spec.ingredient == "methadone"
    ]
    out += _rate_warnings(request, courses, periods, rules)
    out += _patch_warnings(courses, periods, rules)
    out += _regimen_warnings(request, courses, periods, rules)
    if all(period.change is None for period in periods) and request.goal.type == "target_daily_mme":
        out.append(
            make_warning(
                rules,
                "goal_already_met",
                mme=plain(baseline.daily_mme),
                goal=plain(request.goal.value or Decimal(0)),
            )
        )
    out.append(_naloxone(request.patient_factors, baseline.daily_mme, rules))
    out.append(make_warning(rules, "withdrawal_support"))
    order = {"requires_review": 0, "caution": 1, "info": 2}
    return tuple(sorted(out, key=lambda w: order[w.severity]))
