"""Everything a plan warns about: the patient, the drugs, the regimen, combination partners, the pace.

The special situations (suspected opioid use disorder, pregnancy, suicide risk) decide more than a
warning: while no clinician has recorded a reason to taper, the plan holds the dose and shows the pathway
(rules.json ``special_situations``). Every recorded override is shown with who decided and why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from taperwise.taper.calendar import course_mme
from taperwise.taper.courses import DrugCourse
from taperwise.taper.jsonvalues import plain
from taperwise.taper.plan import Step, Warning
from taperwise.taper.request import RAPID_OVERRIDE, Pace, PatientFactors, TaperRequest
from taperwise.taper.rules import TaperRules
from taperwise.taper.safety import make_warning, rate_warnings, steps_text
from taperwise.taper.stepping import Dosing

if TYPE_CHECKING:
    from taperwise.taper.engine import Period

SEVERITY_ORDER = {"requires_review": 0, "caution": 1, "info": 2}


def pending_situations(request: TaperRequest, rules: TaperRules) -> tuple[str, ...]:
    """Special situations for which no clinician has recorded a reason to taper: while any is pending,
    the plan holds the dose (rules.json `special_situations`)."""
    table = rules.raw["special_situations"]
    return tuple(
        key
        for key in request.patient_factors.situations()
        if request.override(table[key]["override"]) is None
    )


def _patient_warnings(request: TaperRequest, rules: TaperRules) -> list[Warning]:
    table = rules.raw["special_situations"]
    situations = request.patient_factors.situations()
    out = [make_warning(rules, str(table[key]["warning"])) for key in situations]
    pending = pending_situations(request, rules)
    if pending:
        labels = "; ".join(str(table[key]["label"]).lower() for key in pending)
        keys = ", ".join(f"overrides.{table[key]['override']}" for key in pending)
        supply = rules.days("dispense", "held_max_days")
        out.append(make_warning(rules, "special_situation_hold", situations=labels, keys=keys, supply=supply))
    for key in situations:
        reason = request.override(str(table[key]["override"]))
        if reason is not None:
            what = str(table[key]["label"])
            out.append(
                make_warning(rules, "clinician_override", what=what, by=reason.by, reason=reason.reason)
            )
    rapid = request.override(RAPID_OVERRIDE)
    if rapid is not None:
        what = str(rules.raw["rapid"]["label"])
        out.append(make_warning(rules, "clinician_override", what=what, by=rapid.by, reason=rapid.reason))
    if request.patient_factors.benzodiazepine:
        out.append(make_warning(rules, "benzodiazepine"))
    return out


def _drug_notes(courses: Mapping[int, DrugCourse], rules: TaperRules) -> list[Warning]:
    """Warnings a drug always carries (methadone, tramadol, tapentadol: rules.json `drug_notes`)."""
    return [
        make_warning(rules, code, drug_index=index)
        for index, course in sorted(courses.items())
        for code in rules.drug_notes(course.spec.ingredient)
    ]


def _end_warnings(
    request: TaperRequest, courses: Mapping[int, DrugCourse], periods: Sequence[Period], rules: TaperRules
) -> list[Warning]:
    """The last step of each drug: a patch's last strength or a long-acting product's last unit, with the
    options; and a last dose kept so long (a slow pace) that the plan offers a faster last phase."""
    out = []
    longest = rules.days("long_plans", "last_dose_days")
    for number, period in enumerate(periods, start=1):
        for index, change in period.changes:
            if change.kind != "stop":
                continue
            course = courses[index]
            last = change.achieved
            if course.is_patch:
                out.append(
                    make_warning(
                        rules,
                        "patch_last_step",
                        drug_index=index,
                        at_steps=[number],
                        drug=course.drug,
                        strength=plain(course.strengths.smallest),
                    )
                )
            elif course.long_acting:
                mme = course_mme(course, Dosing(("bedtime",), (last,)), request.factor_set)
                out.append(
                    make_warning(
                        rules,
                        "last_unit_step",
                        drug_index=index,
                        at_steps=[number],
                        drug=course.drug,
                        dose=plain(last),
                        unit=course.dose_unit,
                        mme=plain(round(mme, 1)),
                    )
                )
            if change.days > longest:
                pace = request.regimen[index].pace or request.pace
                out.append(
                    make_warning(
                        rules,
                        "long_last_dose",
                        drug_index=index,
                        at_steps=[number - 1, number],
                        drug=course.drug,
                        dose=plain(last),
                        unit=course.dose_unit,
                        days=change.days,
                        pace=_pace_of(request, index, course, pace),
                    )
                )
    return out


def _pace_of(request: TaperRequest, index: int, course: DrugCourse, pace: Pace | None) -> str:
    return pace.describe(course.dose_unit) if pace is not None else "the default pace"


def _long_plan(request: TaperRequest, steps: Sequence[Step], rules: TaperRules) -> list[Warning]:
    """R-7: a plan over two years, or, after short use, longer than the use so far."""
    days = (steps[-1].start_date - steps[0].start_date).days
    use = request.opioid_use_days
    short = use < int(rules.raw["default_paces"][0]["min_use_days"])
    limit = (
        min(rules.days("long_plans", "plan_days"), use) if short else rules.days("long_plans", "plan_days")
    )
    if days <= limit or days == 0:
        return []
    why = f", longer than the {use} days of opioid use so far" if short and use < days else ""
    return [make_warning(rules, "long_plan", days=days, years=plain(round(Decimal(days) / 365, 1)), why=why)]


def _regimen_warnings(
    request: TaperRequest, courses: Mapping[int, DrugCourse], periods: Sequence[Period], rules: TaperRules
) -> list[Warning]:
    """Concerns that come from how the regimen is taken: together, as needed, measured as a liquid, in
    strengths the catalogue does not know as marketed."""
    out = []
    together = [number for number, period in enumerate(periods, start=1) if len(period.changes) > 1]
    if together:
        out.append(make_warning(rules, "concurrent_changes", at_steps=together, steps=steps_text(together)))
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
        if course.unmarketed:
            out.append(
                make_warning(
                    rules,
                    "strength_not_marketed",
                    drug_index=index,
                    drug=course.drug,
                    strengths=", ".join(plain(s) for s in course.unmarketed),
                    unit=course.spec.unit,
                    where=f"in the {request.market} market" if request.market else "in the US or the UK",
                )
            )
    return out


def _partner_warnings(
    request: TaperRequest, courses: Mapping[int, DrugCourse], steps: Sequence[Step], rules: TaperRules
) -> list[Warning]:
    """A combination's partner: what happens to it over the plan (with the named option of continuing it
    plain), and every day it would exceed its maximum for this patient (`steps` starts with the
    baseline)."""
    out = []
    factors = request.patient_factors
    for ingredient in sorted({p.ingredient for c in courses.values() for p in c.spec.partners}):
        rule = rules.partner(ingredient)
        drug = next(
            c for c in sorted(courses.values(), key=lambda c: c.index) if c.partner_names.get(ingredient)
        )
        name = drug.partner_name(ingredient)
        totals = [_partner_total(step, ingredient) for step in steps]
        maximum, why = rule.maximum(factors.liver_disease, factors.weight_kg) if rule else (None, "")
        falls = [steps[i].number for i in range(1, len(steps)) if totals[i] < totals[i - 1]]
        if falls:  # a plan that holds the dose says nothing new about the partner
            out.append(
                make_warning(
                    rules,
                    "combination_partner",
                    drug_index=drug.index,
                    at_steps=falls,
                    drug=drug.drug,
                    partner=name,
                    start=plain(totals[0]),
                    end=plain(totals[-1]),
                    steps=steps_text(falls),
                    maximum=plain(maximum) if maximum is not None else "the labelled maximum",
                )
            )
        if maximum is None:
            continue
        above = [i for i, total in enumerate(totals) if total > maximum]
        if above:
            where = ", ".join(
                f"{'baseline' if i == 0 else f'step {steps[i].number}'} {plain(totals[i])} mg" for i in above
            )
            out.append(
                make_warning(
                    rules,
                    "partner_above_maximum",
                    drug_index=drug.index,
                    at_steps=[steps[i].number for i in above if i > 0],
                    drug=drug.drug,
                    partner=name,
                    where=where,
                    maximum=plain(maximum),
                    why=f" for this patient ({why})" if why else "",
                )
            )
    return out


def _partner_total(step: Step, ingredient: str) -> Decimal:
    dose = step.daily_dose.get(ingredient)
    return dose.amount if dose is not None and dose.partner else Decimal(0)


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
    periods: Sequence[Period],
    steps: Sequence[Step],
    rules: TaperRules,
) -> tuple[Warning, ...]:
    """Every concern of a plan, most severe first (`steps` starts with the baseline)."""
    baseline = steps[0]
    out = _patient_warnings(request, rules)
    out += _drug_notes(courses, rules)
    out += rate_warnings(request, courses, periods, steps, rules)
    out += _end_warnings(request, courses, periods, rules)
    out += _long_plan(request, steps, rules)
    out += _regimen_warnings(request, courses, periods, rules)
    out += _partner_warnings(request, courses, steps, rules)
    goal = request.goal.value
    if goal is not None and baseline.daily_mme <= goal and not any(period.changes for period in periods):
        out.append(
            make_warning(
                rules,
                "goal_already_met",
                mme=plain(baseline.daily_mme),
                goal=plain(goal),
            )
        )
    out.append(_naloxone(request.patient_factors, baseline.daily_mme, rules))
    out.append(make_warning(rules, "withdrawal_support"))
    return tuple(sorted(out, key=lambda w: SEVERITY_ORDER[w.severity]))
