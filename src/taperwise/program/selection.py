"""From an assessment to the modules this patient is offered, and to a session plan.

`recommend` runs every rule of `knowledge/data/program/selection.csv` over the assessment's scores and
answers. A module is recommended with *every* reason that fired (the clinician sees why); a rule whose
values are unknown — an instrument not done, a question skipped — is listed as not checked with what
it lacked, never treated as "no barrier". The clinician then includes or leaves out modules
(`choose_modules`): leaving out a recommended module needs a reason, and every difference from the
recommendation is kept. `session_plan` lays the chosen modules into a programme template: the
template's own modules stay where the template puts them, open slots take the chosen modules the
template does not already hold, in the order of the module list, and what does not fit is named.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from taperwise.errors import RequestValidationError
from taperwise.knowledge.conditions import Value, condition_names, evaluate_condition
from taperwise.knowledge.program import (
    Module,
    ProgramTemplate,
    SelectionRule,
    load_modules,
    load_selection_rules,
    module_by_id,
)
from taperwise.program.scoring import InstrumentResult


@dataclass(frozen=True)
class Reason:
    rule_id: str
    reason: str
    source_id: str


@dataclass(frozen=True)
class RecommendedModule:
    module: Module
    reasons: tuple[Reason, ...]


@dataclass(frozen=True)
class UncheckedRule:
    rule_id: str
    module_id: str
    missing: tuple[str, ...]


@dataclass(frozen=True)
class Recommendation:
    modules: tuple[RecommendedModule, ...]
    unchecked: tuple[UncheckedRule, ...]

    @property
    def module_ids(self) -> tuple[str, ...]:
        return tuple(entry.module.id for entry in self.modules)


@dataclass(frozen=True)
class Deviation:
    module_id: str
    change: str  # "left out" (recommended, not chosen) or "added" (chosen, not recommended)
    reason: str


@dataclass(frozen=True)
class ModuleChoice:
    module_ids: tuple[str, ...]
    deviations: tuple[Deviation, ...]


@dataclass(frozen=True)
class PlannedSession:
    number: int
    title: str
    week: int
    format: str
    minutes: int
    delivered_by: str
    module_ids: tuple[str, ...]
    individualised: tuple[str, ...]  # the modules placed in this session's open slots


@dataclass(frozen=True)
class SessionPlan:
    template_id: str
    sessions: tuple[PlannedSession, ...]
    not_placed: tuple[str, ...]  # chosen modules for which the template had no open slot
    left_out_of_template: tuple[str, ...]  # template modules the clinician chose to leave out


@dataclass(frozen=True)
class AssessmentValues:
    """What the rules read: scores and answered items by name (an unknown score is None), and the
    scores that do not apply to this patient (past attempts, for someone who never tried)."""

    values: Mapping[str, Value]
    not_applicable: frozenset[str] = frozenset()


def assessment_values(results: Iterable[InstrumentResult]) -> AssessmentValues:
    values: dict[str, Value] = {}
    not_applicable: set[str] = set()
    for result in results:
        values.update({key: value for key, value in result.answers.items() if isinstance(value, int)})
        values.update({score.score_id: score.value for score in result.scores})
        not_applicable.update(score.score_id for score in result.scores if score.status == "not_applicable")
    return AssessmentValues(values, frozenset(not_applicable))


def recommend(
    assessment: AssessmentValues | Mapping[str, Value], rules: Sequence[SelectionRule] | None = None
) -> Recommendation:
    """A rule that reads only scores which do not apply neither fires nor counts as unchecked."""
    if not isinstance(assessment, AssessmentValues):
        assessment = AssessmentValues(assessment)
    values = assessment.values
    chosen_rules = rules if rules is not None else load_selection_rules()
    reasons: dict[str, list[Reason]] = {}
    unchecked = []
    for rule in chosen_rules:
        outcome = evaluate_condition(rule.expression, values)
        if outcome:
            reasons.setdefault(rule.module_id, []).append(Reason(rule.rule_id, rule.reason, rule.source_id))
        elif outcome is None:
            missing = tuple(name for name in condition_names(rule.expression) if _unknown(values.get(name)))
            if not set(missing) <= assessment.not_applicable:
                unchecked.append(UncheckedRule(rule.rule_id, rule.module_id, missing))
    modules = tuple(
        RecommendedModule(module, tuple(reasons[module.id]))
        for module in load_modules()
        if module.id in reasons
    )
    return Recommendation(modules, tuple(unchecked))


def _unknown(value: Value) -> bool:
    return value is None or (isinstance(value, Decimal) and not value.is_finite())


def choose_modules(
    recommendation: Recommendation,
    include: Sequence[str],
    reasons: Mapping[str, str] | None = None,
) -> ModuleChoice:
    """The clinician's choice: `include` lists the modules offered; leaving out a recommended one needs
    a reason in `reasons` (by module id), which is kept with any module added beyond the recommendation."""
    given = dict(reasons or {})
    for module_id in include:
        module_by_id(module_id)
    if len(set(include)) != len(include):
        raise RequestValidationError("modules", "a module is listed twice")
    deviations = []
    for module_id in recommendation.module_ids:
        if module_id not in include:
            reason = given.get(module_id, "").strip()
            if not reason:
                raise RequestValidationError(
                    f"modules.{module_id}", "is recommended by the assessment; say why it is left out"
                )
            deviations.append(Deviation(module_id, "left out", reason))
    for module_id in include:
        if module_id not in recommendation.module_ids:
            deviations.append(Deviation(module_id, "added", given.get(module_id, "").strip()))
    order = [module.id for module in load_modules()]
    return ModuleChoice(tuple(sorted(include, key=order.index)), tuple(deviations))


def session_plan(
    template: ProgramTemplate, chosen: Sequence[str], *, excluded: Collection[str] = ()
) -> SessionPlan:
    """Lay the chosen modules into the template's sessions (see the module docstring for the rule)."""
    in_template = {module_id for session in template.sessions for module_id in session.module_ids}
    waiting = [
        module_id for module_id in chosen if module_id not in in_template and module_id not in excluded
    ]
    sessions = []
    for number, session in enumerate(template.sessions, start=1):
        placed = tuple(waiting[: session.open_slots])
        del waiting[: session.open_slots]
        fixed = tuple(module_id for module_id in session.module_ids if module_id not in excluded)
        sessions.append(
            PlannedSession(
                number,
                session.title,
                session.week,
                session.format,
                session.minutes,
                session.delivered_by,
                fixed + placed,
                placed,
            )
        )
    left_out = tuple(module_id for module_id in sorted(in_template) if module_id in excluded)
    return SessionPlan(template.id, tuple(sessions), tuple(waiting), left_out)
