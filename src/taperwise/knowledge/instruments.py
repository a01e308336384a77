"""Assessment instruments as versioned data: items, answer choices, scoring rules, bands and alerts.

Each instrument is one JSON file in `data/program/instruments/` (PEG, PHQ-9, GAD-7, COWS, SOWS, the
Opioid Risk Tool, the readiness rulers and our own barriers and facilitators questionnaire); `index.csv`
lists them with their version and where they are used. Every instrument names its source, and says
whether the item wording is the published one (only where its licence allows: PHQ-9 and GAD-7) or ours.

Loading checks what a reviewer would: item ids are unique across instruments and usable as REDCap
variable names (lowercase, ≤ 26 characters), every score names scored items that exist, the declared
range of a score is the range its items can actually produce (so a typo in a point value cannot go
unnoticed), bands rise from the score's minimum, and alert conditions name only items and scores.
Scoring itself is in `taperwise.program.scoring`.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from taperwise.errors import KnowledgeError
from taperwise.knowledge.conditions import parse_condition
from taperwise.knowledge.factors import read_data_csv

_DATA = resources.files("taperwise.knowledge") / "data" / "program"
_ID = re.compile(r"^[a-z][a-z0-9_]{0,25}$")
METHODS = ("sum", "mean", "weighted_sum")
COMPLETED_BY = ("patient", "clinician")
ALERT_LEVELS = ("urgent", "review")


@dataclass(frozen=True)
class Choice:
    value: int
    label: str


@dataclass(frozen=True)
class ShowIf:
    """The item is asked only when another item has this answer (REDCap branching logic)."""

    item_id: str
    equals: int


@dataclass(frozen=True)
class Item:
    id: str
    text: str
    kind: str  # "choice" or "text"
    choices: tuple[Choice, ...]
    scored: bool
    required: bool
    section: str | None = None
    show_if: ShowIf | None = None
    weights: Mapping[str, int] | None = None
    direction: str | None = None  # barriers questionnaire: "barrier" or "facilitator"

    def choice(self, value: int) -> Choice | None:
        return next((choice for choice in self.choices if choice.value == value), None)


@dataclass(frozen=True)
class Band:
    start: Decimal  # the band holds scores from `start` up to the next band's start
    label: str


@dataclass(frozen=True)
class WeightsBy:
    """A weighted sum takes its column of weights from an answer (the Opioid Risk Tool: sex)."""

    item_id: str
    columns: Mapping[int, str]


@dataclass(frozen=True)
class ScoreRule:
    id: str
    label: str
    method: str
    item_ids: tuple[str, ...]
    minimum: Decimal
    maximum: Decimal
    bands: tuple[Band, ...]
    source_id: str
    decimals: int = 0
    reverse: tuple[str, ...] = ()
    weights_by: WeightsBy | None = None

    def band(self, value: Decimal) -> str | None:
        label = None
        for band in self.bands:
            if value >= band.start:
                label = band.label
        return label


@dataclass(frozen=True)
class AlertRule:
    id: str
    when: str
    expression: ast.expr
    level: str
    title: str
    do_now: tuple[str, ...]
    source_id: str


@dataclass(frozen=True)
class Instrument:
    id: str
    version: str
    title: str
    short: str
    measures: str
    completed_by: str
    wording: str  # "published" or "ours"
    source_id: str
    instructions: str
    items: tuple[Item, ...]
    scores: tuple[ScoreRule, ...]
    alerts: tuple[AlertRule, ...]
    used_at: tuple[str, ...]
    licence_source_id: str | None = None
    validated: bool = True

    def item(self, item_id: str) -> Item:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)


def load_program_sources() -> dict[str, dict[str, str]]:
    return _program_sources()


@cache
def _program_sources() -> dict[str, dict[str, str]]:
    return {row["source_id"]: row for row in read_data_csv(_DATA / "sources.csv")}


@cache
def load_instruments() -> tuple[Instrument, ...]:
    """Every instrument of `index.csv`, in its order; raises KnowledgeError naming the file and problem."""
    sources = _program_sources()
    instruments: list[Instrument] = []
    seen: dict[str, str] = {}
    for number, row in enumerate(read_data_csv(_DATA / "instruments" / "index.csv"), start=2):
        where = f"instruments/index.csv, line {number}"
        path = _DATA / "instruments" / f"{row['instrument_id']}.json"
        if not path.is_file():
            raise KnowledgeError(f"{where}: no file instruments/{row['instrument_id']}.json")
        used_at = tuple(part for part in row["used_at"].split(";") if part)
        instrument = _read_instrument(path, row["version"], used_at, sources)
        for name in [
            instrument.id,
            *(item.id for item in instrument.items),
            *(s.id for s in instrument.scores),
        ]:
            if name in seen and not (name == instrument.id and seen[name] == instrument.id):
                raise KnowledgeError(
                    f"instruments/{instrument.id}.json: id {name!r} is also used in {seen[name]}"
                )
            seen[name] = instrument.id
        instruments.append(instrument)
    return tuple(instruments)


def alert_rules() -> dict[str, AlertRule]:
    """Every instrument alert by id: what a page shows for an alert raised earlier (its "do now" steps)."""
    return {alert.id: alert for instrument in load_instruments() for alert in instrument.alerts}


def instrument_by_id(instrument_id: str) -> Instrument:
    for instrument in load_instruments():
        if instrument.id == instrument_id:
            return instrument
    known = ", ".join(instrument.id for instrument in load_instruments())
    raise KnowledgeError(f"unknown instrument {instrument_id!r}; known instruments: {known}")


def _read_instrument(
    path: Traversable, version: str, used_at: tuple[str, ...], sources: Mapping[str, object]
) -> Instrument:
    where = f"instruments/{path.name}"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise KnowledgeError(f"{where}: not valid JSON ({exc})") from exc
    try:
        return _build_instrument(raw, version, used_at, sources, where)
    except (KeyError, TypeError, ValueError) as exc:
        raise KnowledgeError(f"{where}: malformed instrument ({exc!r})") from exc


def _build_instrument(
    raw: dict[str, Any], version: str, used_at: tuple[str, ...], sources: Mapping[str, object], where: str
) -> Instrument:
    _check_id(raw["id"], where)
    for key in ("source_id", "licence_source_id"):
        if raw.get(key) is not None and raw[key] not in sources:
            raise KnowledgeError(f"{where}: {key} {raw[key]!r} is not in program/sources.csv")
    if raw["completed_by"] not in COMPLETED_BY or raw["wording"] not in ("published", "ours"):
        raise KnowledgeError(
            f"{where}: completed_by must be one of {COMPLETED_BY}, wording published or ours"
        )
    if raw["wording"] == "published" and raw.get("licence_source_id") is None:
        raise KnowledgeError(f"{where}: published wording needs a licence_source_id saying it may be used")
    named = {key: _choices(value, f"{where}, choices {key}") for key, value in raw["choices"].items()}
    items: list[Item] = []
    for entry in raw["items"]:
        items.append(
            _item(entry, named, {item.id: item for item in items}, f"{where}, item {entry.get('id')}")
        )
    by_id = {item.id: item for item in items}
    scores = tuple(
        _score(entry, by_id, sources, f"{where}, score {entry.get('id')}") for entry in raw["scores"]
    )
    names = {*by_id, *(score.id for score in scores)}
    alerts = tuple(
        _alert(entry, names, sources, f"{where}, alert {entry.get('id')}") for entry in raw["alerts"]
    )
    return Instrument(
        id=raw["id"],
        version=version,
        title=raw["title"],
        short=raw["short"],
        measures=raw["measures"],
        completed_by=raw["completed_by"],
        wording=raw["wording"],
        source_id=raw["source_id"],
        instructions=raw["instructions"],
        items=tuple(items),
        scores=scores,
        alerts=alerts,
        used_at=used_at,
        licence_source_id=raw.get("licence_source_id"),
        validated=bool(raw.get("validated", True)),
    )


def _check_id(value: object, where: str) -> None:
    if not isinstance(value, str) or not _ID.match(value):
        raise KnowledgeError(
            f"{where}: id {value!r} must be lowercase letters, digits and _ (≤ 26, a letter first)"
        )


def _choices(raw: list[list[Any]], where: str) -> tuple[Choice, ...]:
    choices = tuple(Choice(int(value), str(label)) for value, label in raw)
    values = [choice.value for choice in choices]
    if len(set(values)) != len(values) or values != sorted(values):
        raise KnowledgeError(f"{where}: choice values must be unique and ascending, got {values}")
    if any("|" in choice.label for choice in choices):
        raise KnowledgeError(
            f"{where}: a choice label may not contain '|' (REDCap separates choices with it)"
        )
    return choices


def _item(
    raw: dict[str, Any], named: Mapping[str, tuple[Choice, ...]], earlier: Mapping[str, Item], where: str
) -> Item:
    _check_id(raw["id"], where)
    kind = raw.get("kind", "choice")
    if kind == "text":
        choices: tuple[Choice, ...] = ()
    elif isinstance(raw["choices"], str):
        if raw["choices"] not in named:
            raise KnowledgeError(f"{where}: no choices named {raw['choices']!r}")
        choices = named[raw["choices"]]
    else:
        choices = _choices(raw["choices"], where)
    show_if = None
    if "show_if" in raw:
        gate = earlier.get(raw["show_if"]["item"])
        show_if = ShowIf(raw["show_if"]["item"], int(raw["show_if"]["equals"]))
        if gate is None or gate.choice(show_if.equals) is None:
            raise KnowledgeError(f"{where}: show_if must name an earlier item and one of its answers")
    direction = raw.get("direction")
    if direction not in (None, "barrier", "facilitator"):
        raise KnowledgeError(f"{where}: direction must be barrier or facilitator")
    scored = bool(raw.get("scored", kind == "choice"))
    return Item(
        id=raw["id"],
        text=raw["text"],
        kind=kind,
        choices=choices,
        scored=scored,
        required=bool(raw.get("required", True)),
        section=raw.get("section"),
        show_if=show_if,
        weights={str(key): int(value) for key, value in raw["weights"].items()} if "weights" in raw else None,
        direction=direction,
    )


def _score(
    raw: dict[str, Any], items: Mapping[str, Item], sources: Mapping[str, object], where: str
) -> ScoreRule:
    _check_id(raw["id"], where)
    if raw["method"] not in METHODS:
        raise KnowledgeError(f"{where}: method must be one of {METHODS}")
    if raw["source_id"] not in sources:
        raise KnowledgeError(f"{where}: source {raw['source_id']!r} is not in program/sources.csv")
    item_ids = tuple(raw["items"])
    for item_id in item_ids:
        if item_id not in items or not items[item_id].scored:
            raise KnowledgeError(f"{where}: {item_id!r} is not a scored item of this instrument")
    reverse = tuple(raw.get("reverse", ()))
    if not set(reverse) <= set(item_ids):
        raise KnowledgeError(f"{where}: reverse names items the score does not use")
    weights_by = None
    if raw["method"] == "weighted_sum":
        spec = raw["weights_by"]
        gate = items.get(spec["item"])
        columns = {int(value): str(column) for value, column in spec["columns"].items()}
        if gate is None or {choice.value for choice in gate.choices} != set(columns):
            raise KnowledgeError(f"{where}: weights_by must map every answer of an item of this instrument")
        for item_id in item_ids:
            if set(items[item_id].weights or {}) != set(columns.values()):
                raise KnowledgeError(
                    f"{where}: {item_id} needs a weight for each of {sorted(columns.values())}"
                )
        weights_by = WeightsBy(spec["item"], columns)
    bands = tuple(Band(Decimal(str(band["from"])), band["label"]) for band in raw["bands"])
    rule = ScoreRule(
        id=raw["id"],
        label=raw["label"],
        method=raw["method"],
        item_ids=item_ids,
        minimum=Decimal(str(raw["min"])),
        maximum=Decimal(str(raw["max"])),
        bands=bands,
        source_id=raw["source_id"],
        decimals=int(raw.get("decimals", 0)),
        reverse=reverse,
        weights_by=weights_by,
    )
    low, high = _reachable_range(rule, items)
    if (low, high) != (rule.minimum, rule.maximum):
        raise KnowledgeError(
            f"{where}: declared range {rule.minimum}–{rule.maximum}, but the items give {low}–{high}"
        )
    starts = [band.start for band in bands]
    if bands and (starts[0] != rule.minimum or starts != sorted(set(starts)) or starts[-1] > rule.maximum):
        raise KnowledgeError(
            f"{where}: bands must start at the minimum and rise within the range, got {starts}"
        )
    return rule


def _reachable_range(rule: ScoreRule, items: Mapping[str, Item]) -> tuple[Decimal, Decimal]:
    """The lowest and highest score the items can give: the declared range must be this one."""
    values = {item_id: [choice.value for choice in items[item_id].choices] for item_id in rule.item_ids}
    if rule.method == "weighted_sum":
        assert rule.weights_by is not None
        columns = list(rule.weights_by.columns.values())
        lows = [_total(min(values[i]) * (items[i].weights or {})[c] for i in rule.item_ids) for c in columns]
        highs = [_total(max(values[i]) * (items[i].weights or {})[c] for i in rule.item_ids) for c in columns]
        return min(lows), max(highs)
    low = _total(min(values[i]) for i in rule.item_ids)
    high = _total(max(values[i]) for i in rule.item_ids)
    if rule.method == "mean":
        count = Decimal(len(rule.item_ids))
        return low / count, high / count
    return low, high


def _total(points: Iterable[int]) -> Decimal:
    return sum((Decimal(point) for point in points), Decimal(0))


def _alert(raw: dict[str, Any], names: set[str], sources: Mapping[str, object], where: str) -> AlertRule:
    if raw["level"] not in ALERT_LEVELS or raw["source_id"] not in sources:
        raise KnowledgeError(
            f"{where}: level must be one of {ALERT_LEVELS} and the source in program/sources.csv"
        )
    return AlertRule(
        id=raw["id"],
        when=raw["when"],
        expression=parse_condition(raw["when"], names, where, what="item or score"),
        level=raw["level"],
        title=raw["title"],
        do_now=tuple(raw["do_now"]),
        source_id=raw["source_id"],
    )
