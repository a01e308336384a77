"""Scoring an instrument's answers by its published rule, with unknown kept apart from zero.

A score is *scored* only when every item it uses was answered (the sums and means of PHQ-9, GAD-7,
COWS, SOWS and the Opioid Risk Tool are defined over all their items; none of them is prorated here,
so a half-finished form can never look like a low score). Otherwise it is *unknown*, with the items
that are missing; a score whose every item was skipped by branching (past attempts, for someone who
never tried) is *not applicable*. Alerts are checked on whatever was answered, so PHQ-9 item 9 raises
its alert even on an unfinished form — and an alert that could not be checked (item 9 left blank) is
reported as such, never as "no alert".

Answers arrive from forms and CSV files: `read_answers` turns text into the item's values and names the
item and the allowed answers when a value is not one of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from taperwise.errors import TaperwiseError
from taperwise.knowledge.conditions import condition_names, evaluate_condition
from taperwise.knowledge.instruments import AlertRule, Instrument, Item, ScoreRule

Answer = int | str


class AnswerError(TaperwiseError):
    """An answer is not one the item allows; `item_id` names the item."""

    def __init__(self, item_id: str, problem: str) -> None:
        self.item_id = item_id
        self.problem = problem
        super().__init__(f"{item_id}: {problem}")


@dataclass(frozen=True)
class ScoreResult:
    score_id: str
    label: str
    status: str  # "scored", "unknown" or "not_applicable"
    value: Decimal | None
    band: str | None
    missing: tuple[str, ...]
    source_id: str

    @property
    def reason(self) -> str | None:
        if self.status == "unknown":
            return "not answered: " + ", ".join(self.missing)
        if self.status == "not_applicable":
            return "not asked (its items did not apply)"
        return None


@dataclass(frozen=True)
class AlertResult:
    alert_id: str
    status: str  # "raised" or "not_checked"
    level: str
    title: str
    do_now: tuple[str, ...]
    missing: tuple[str, ...]
    source_id: str


@dataclass(frozen=True)
class InstrumentResult:
    instrument_id: str
    version: str
    scores: tuple[ScoreResult, ...]
    alerts: tuple[AlertResult, ...]
    unanswered: tuple[str, ...]
    answers: Mapping[str, Answer] = field(default_factory=dict)  # the answers scored (asked items only)
    notes: tuple[str, ...] = field(default=())

    @property
    def complete(self) -> bool:
        return not self.unanswered

    def score(self, score_id: str) -> ScoreResult:
        return next(score for score in self.scores if score.score_id == score_id)


def read_answers(instrument: Instrument, raw: Mapping[str, object]) -> dict[str, Answer]:
    """Answers from text or numbers (a form, a CSV row) → item values; blank means not answered.

    Names that are not items of this instrument are refused, so a misspelt column cannot vanish.
    """
    known = {item.id: item for item in instrument.items}
    answers: dict[str, Answer] = {}
    for name, value in raw.items():
        item = known.get(name)
        if item is None:
            raise AnswerError(name, f"is not an item of {instrument.short}")
        answer = _read_answer(item, value)
        if answer is not None:
            answers[name] = answer
    return answers


def _read_answer(item: Item, value: object) -> Answer | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if item.kind == "text":
        return str(value).strip()
    if isinstance(value, bool):
        raise AnswerError(item.id, "expects one of the listed answers, not true/false")
    text = str(value).strip()
    try:
        number = int(text) if not isinstance(value, int) else value
    except ValueError:
        number = None
    if number is None or item.choice(number) is None:
        raise AnswerError(item.id, f"{text[:40]!r} is not one of the answers: {_allowed(item)}")
    return number


def _allowed(item: Item) -> str:
    values = [choice.value for choice in item.choices]
    if len(values) > 5 and values == list(range(values[0], values[-1] + 1)):
        return f"a whole number from {values[0]} to {values[-1]}"
    return ", ".join(f"{choice.value} ({choice.label})" for choice in item.choices)


def score_instrument(instrument: Instrument, answers: Mapping[str, Answer]) -> InstrumentResult:
    """Score answers already read by `read_answers` (or built in code with item values)."""
    checked = read_answers(instrument, answers)
    asked = _asked_items(instrument, checked)
    notes = tuple(
        f"{item_id} was answered but does not apply (its question was not asked): not scored"
        for item_id in checked
        if item_id not in asked
    )
    values = {item_id: value for item_id, value in checked.items() if item_id in asked}
    scores = tuple(_score(rule, instrument, values, asked) for rule in instrument.scores)
    unanswered = tuple(
        item.id for item in instrument.items if item.required and item.id in asked and item.id not in values
    )
    numeric: dict[str, int | Decimal | None] = {
        item_id: value for item_id, value in values.items() if isinstance(value, int)
    }
    numeric.update({score.score_id: score.value for score in scores})
    alerts = tuple(
        result for alert in instrument.alerts if (result := _check_alert(alert, numeric)) is not None
    )
    return InstrumentResult(instrument.id, instrument.version, scores, alerts, unanswered, values, notes)


def _asked_items(instrument: Instrument, answers: Mapping[str, Answer]) -> set[str]:
    asked: set[str] = set()
    for item in instrument.items:
        gate = item.show_if
        if gate is None or (gate.item_id in asked and answers.get(gate.item_id) == gate.equals):
            asked.add(item.id)
    return asked


def _score(
    rule: ScoreRule, instrument: Instrument, values: Mapping[str, Answer], asked: set[str]
) -> ScoreResult:
    used = [item_id for item_id in rule.item_ids if item_id in asked]
    if not used:
        # Not asked because of an answer (never tried before): not applicable. Not asked because the
        # question that decides it is unanswered: unknown, and that question is what is missing.
        gates = [instrument.item(item_id).show_if for item_id in rule.item_ids]
        open_gates = tuple(
            dict.fromkeys(g.item_id for g in gates if g is not None and g.item_id not in values)
        )
        if open_gates:
            return ScoreResult(rule.id, rule.label, "unknown", None, None, open_gates, rule.source_id)
        return ScoreResult(rule.id, rule.label, "not_applicable", None, None, (), rule.source_id)
    missing = [item_id for item_id in used if item_id not in values]
    if rule.weights_by is not None and rule.weights_by.item_id not in values:
        missing.insert(0, rule.weights_by.item_id)
    if missing:
        return ScoreResult(rule.id, rule.label, "unknown", None, None, tuple(missing), rule.source_id)
    points = [_points(rule, instrument.item(item_id), int(values[item_id]), values) for item_id in used]
    total = sum(points, Decimal(0))
    value = total / len(points) if rule.method == "mean" else total
    value = value.quantize(Decimal(1).scaleb(-rule.decimals), rounding=ROUND_HALF_UP)
    return ScoreResult(rule.id, rule.label, "scored", value, rule.band(value), (), rule.source_id)


def _points(rule: ScoreRule, item: Item, value: int, values: Mapping[str, Answer]) -> Decimal:
    if item.id in rule.reverse:
        lowest, highest = item.choices[0].value, item.choices[-1].value
        return Decimal(lowest + highest - value)
    if rule.weights_by is not None:
        column = rule.weights_by.columns[int(values[rule.weights_by.item_id])]
        return Decimal(value * (item.weights or {})[column])
    return Decimal(value)


def _check_alert(alert: AlertRule, values: Mapping[str, int | Decimal | None]) -> AlertResult | None:
    outcome = evaluate_condition(alert.expression, values)
    if outcome is False:
        return None
    missing = tuple(name for name in condition_names(alert.expression) if values.get(name) is None)
    status = "raised" if outcome else "not_checked"
    return AlertResult(alert.id, status, alert.level, alert.title, alert.do_now, missing, alert.source_id)
