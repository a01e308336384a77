"""The taper engine's clinical rules, read from versioned data with their sources.

Rules live in ``taperwise/knowledge/data/taper/`` (``rules.json``, ``warnings.csv``,
``decisions.json``, ``packs.csv``, ``bottles.csv``, ``sources.csv``) so that a reader finds each rule, its
source and its id in one place and a change to a rule is a change to data, reviewed as such. This module
only reads and checks those files; the engine never hard-codes a clinical number. Reading packaged data is
the one "input" the taper package does, cached, so its functions stay pure for a given rules version.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from taperwise.errors import KnowledgeError

_DATA = resources.files("taperwise.knowledge") / "data" / "taper"
SEVERITIES = ("info", "caution", "requires_review")


@dataclass(frozen=True)
class TaperSource:
    source_id: str
    citation: str
    url: str
    checked: str


@dataclass(frozen=True)
class WarningRule:
    """A warning the engine can raise: its severity, message template and source."""

    code: str
    severity: str
    message: str
    source_id: str


@dataclass(frozen=True)
class RateCheck:
    rule_id: str
    min_use_days: int
    max_percent_of_original: Decimal
    per_days: int
    margin_percent: Decimal
    warning: str

    @property
    def threshold(self) -> Decimal:
        """The fastest rate (% of the original per `per_days`) that passes, margin included."""
        return self.max_percent_of_original * (1 + self.margin_percent / 100)


@dataclass(frozen=True)
class Schedule:
    """Times of day for a number of administrations and the order they are reduced, then removed."""

    times: tuple[str, ...]
    interval: str
    reduce_order: tuple[str, ...]


@dataclass(frozen=True)
class Pack:
    ingredient: str
    route: str
    dose_form: str
    units_per_box: int
    whole_boxes: bool
    source_id: str


@dataclass(frozen=True)
class Bottle:
    """A marketed bottle size of an oral liquid of one concentration, in one market."""

    ingredient: str
    concentration: Decimal  # mg/mL
    market: str
    millilitres: int
    source_id: str


@dataclass(frozen=True)
class TaperRules:
    """Everything the engine needs, as loaded from ``rules.json`` and its companions."""

    version: str
    raw: dict[str, Any]
    warnings: dict[str, WarningRule]
    sources: dict[str, TaperSource]
    packs: tuple[Pack, ...]
    decisions: dict[str, Any]
    bottles: tuple[Bottle, ...] = ()

    def default_pace(self, use_days: int) -> tuple[str, dict[str, Any]]:
        """The default pace row for this duration of use: (rule id, pace dict)."""
        for row in sorted(self.raw["default_paces"], key=lambda r: -int(r["min_use_days"])):
            if use_days >= int(row["min_use_days"]):
                return str(row["id"]), dict(row["pace"])
        raise KnowledgeError("rules.json: no default pace covers 0 days of use")

    def rate_checks(self) -> tuple[RateCheck, ...]:
        return tuple(
            RateCheck(
                rule_id=row["id"],
                min_use_days=int(row["min_use_days"]),
                max_percent_of_original=Decimal(str(row["max_percent_of_original"])),
                per_days=int(row["per_days"]),
                margin_percent=Decimal(str(row["margin_percent"])),
                warning=row["warning"],
            )
            for row in self.raw["rate_checks"]
        )

    def rate_check_for(self, use_days: int) -> RateCheck:
        """The rate check that applies: the one with the highest `min_use_days` not above `use_days`."""
        applicable = [check for check in self.rate_checks() if use_days >= check.min_use_days]
        return max(applicable, key=lambda check: check.min_use_days)

    def schedule(self, count: int) -> Schedule:
        row = self.raw["schedules"]["by_count"].get(str(count))
        if row is None:
            raise KnowledgeError(f"rules.json: no schedule for {count} administrations a day")
        return Schedule(tuple(row["times"]), row["interval"], tuple(row["reduce_order"]))

    @property
    def max_times_per_day(self) -> int:
        return max(int(key) for key in self.raw["schedules"]["by_count"])

    def number(self, section: str, key: str) -> Decimal:
        return Decimal(str(self.raw[section][key]))

    def days(self, section: str, key: str) -> int:
        return int(self.raw[section][key])

    def pack_for(self, ingredient: str, route: str, dose_form: str) -> Pack | None:
        for pack in self.packs:
            if (pack.ingredient, pack.route, pack.dose_form) == (ingredient, route, dose_form):
                return pack
        return None

    def bottle_sizes(self, ingredient: str, concentration: Decimal, market: str | None) -> tuple[int, ...]:
        """Bottle sizes (mL) of this liquid in `market` (None: both markets), ascending; () if unknown."""
        return tuple(
            sorted(
                {
                    b.millilitres
                    for b in self.bottles
                    if b.ingredient == ingredient
                    and b.concentration == concentration
                    and (market is None or b.market == market)
                }
            )
        )

    def refusal(self, kind: str, **fields: str) -> str:
        """Why a product is not tapered and what to do instead (rules.json `refusals`)."""
        return str(self.raw["refusals"][kind]["message"]).format(**fields)

    @property
    def as_needed_markers(self) -> tuple[str, ...]:
        return tuple(self.raw["as_needed"]["markers"])

    def cite(self, source_id: str) -> str:
        """Short citation shown on a warning: the source id and its title."""
        source = self.sources[source_id]
        return f"{source_id}: {source.citation}"


def _read_csv(name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((_DATA / name).read_text(encoding="utf-8"), newline="")))


def _read_json(name: str) -> dict[str, Any]:
    with (_DATA / name).open(encoding="utf-8") as handle:
        loaded: dict[str, Any] = json.load(handle)
    return loaded


def _check_sources(rules: TaperRules) -> None:
    """Every rule names a source that exists, and every warning has a known severity."""
    named: list[tuple[str, str]] = [(f"warning {w.code}", w.source_id) for w in rules.warnings.values()]
    named += [(f"pack {p.ingredient}", p.source_id) for p in rules.packs]
    named += [(f"decision {row['id']}", row["source"]) for row in rules.decisions["rows"]]
    named += [(f"bottle {b.ingredient} {b.concentration} mg/mL", b.source_id) for b in rules.bottles]
    named += [
        (f"refusal {kind}", row["source"])
        for kind, row in rules.raw["refusals"].items()
        if isinstance(row, dict)
    ]
    for section, value in rules.raw.items():
        rows = value if isinstance(value, list) else [value]
        named += [
            (f"rules.json {section}", row["source"])
            for row in rows
            if isinstance(row, dict) and "source" in row
        ]
    for where, source_id in named:
        if source_id not in rules.sources:
            raise KnowledgeError(f"taper data: {where} cites unknown source {source_id!r}")
    for warning in rules.warnings.values():
        if warning.severity not in SEVERITIES:
            raise KnowledgeError(
                f"taper data: warning {warning.code} has unknown severity {warning.severity!r}"
            )


@cache
def load_rules() -> TaperRules:
    """Load and check the taper rules (cached: the data is part of the installed package)."""
    sources = {
        row["source_id"]: TaperSource(row["source_id"], row["citation"], row["url"], row["checked"])
        for row in _read_csv("sources.csv")
    }
    warnings = {
        row["code"]: WarningRule(row["code"], row["severity"], row["message"], row["source_id"])
        for row in _read_csv("warnings.csv")
    }
    packs = tuple(
        Pack(
            row["ingredient"],
            row["route"],
            row["dose_form"],
            int(row["units_per_box"]),
            row["whole_boxes"].strip().lower() == "true",
            row["source_id"],
        )
        for row in _read_csv("packs.csv")
    )
    bottles = tuple(
        Bottle(
            row["ingredient"],
            Decimal(row["concentration_mg_per_ml"]),
            row["market"],
            int(row["bottle_ml"]),
            row["source_id"],
        )
        for row in _read_csv("bottles.csv")
    )
    raw = _read_json("rules.json")
    rules = TaperRules(raw["version"], raw, warnings, sources, packs, _read_json("decisions.json"), bottles)
    _check_sources(rules)
    return rules
