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
from datetime import date
from decimal import Decimal
from functools import cache, cached_property
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
class PartnerRule:
    """The non-opioid partner of combination products (paracetamol/acetaminophen): its name in each
    market and its maximum daily dose, lower for the patients `reduced_when` describes."""

    ingredient: str
    names: dict[str, str]  # market (US, UK, both) -> the word used there
    max_daily_mg: Decimal
    reductions: tuple[
        dict[str, Any], ...
    ]  # {"liver_disease": true | "weight_kg_below": 50, "max_daily_mg", "why"}
    source_id: str

    def name(self, market: str | None) -> str:
        return self.names.get(market or "both", self.names["both"])

    def maximum(self, liver_disease: bool, weight_kg: Decimal | None) -> tuple[Decimal, str]:
        """The lowest maximum daily dose that applies to this patient, and why it is lower ("" if not)."""
        best, why = self.max_daily_mg, ""
        for row in self.reductions:
            applies = (
                (row.get("liver_disease") is True and liver_disease)
                or (
                    weight_kg is not None
                    and "weight_kg_below" in row
                    and weight_kg < Decimal(str(row["weight_kg_below"]))
                )
                or (
                    weight_kg is not None
                    and "weight_kg_at_most" in row
                    and weight_kg <= Decimal(str(row["weight_kg_at_most"]))
                )
            )
            value = Decimal(str(row["max_daily_mg"]))
            if applies and value < best:
                best, why = value, str(row["why"])
        return best, why


@dataclass(frozen=True)
class Limits:
    """Plausibility bounds on a request (rules.json `limits`): beyond them a field is refused by name."""

    max_regimen_items: int
    max_strengths: int
    max_dose: dict[str, Decimal]  # per administration, by dose unit
    max_every_days: int
    max_opioid_use_days: int
    max_plan_days: int
    max_steps: int
    earliest_date: date
    latest_date: date
    max_text: int
    max_note: int
    max_target_daily_mme: Decimal
    max_units_per_box: int
    max_units_per_dose: int
    min_weight_kg: Decimal
    max_weight_kg: Decimal
    max_days_per_dispense: int


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

    def default_pace(self, use_days: int, ingredient: str | None = None) -> tuple[str, dict[str, Any]]:
        """The default pace row for this drug and duration of use: (rule id, pace dict). A row naming the
        ingredient (methadone) comes before the general rows."""
        rows = sorted(
            self.raw["default_paces"], key=lambda r: (r.get("ingredient") is None, -int(r["min_use_days"]))
        )
        for row in rows:
            if row.get("ingredient") not in (None, ingredient):
                continue
            if use_days >= int(row["min_use_days"]):
                return str(row["id"]), dict(row["pace"])
        raise KnowledgeError("rules.json: no default pace covers 0 days of use")

    @cached_property
    def limits(self) -> Limits:
        return _limits(self.raw["limits"])

    def partner(self, ingredient: str) -> PartnerRule | None:
        """The rule for a combination partner (paracetamol), or None when none is known."""
        row = self.raw["combinations"]["partners"].get(ingredient)
        if row is None:
            return None
        return PartnerRule(
            ingredient,
            dict(row["names"]),
            Decimal(str(row["max_daily_mg"])),
            tuple(dict(reduction) for reduction in row.get("reductions", [])),
            row["source"],
        )

    def max_days_per_instalment(self, market: str | None) -> int:
        limits = self.raw["dispense"]["max_days_per_instalment"]
        return int(limits.get(market or "both", limits["both"]))

    def follow_up_days(self, key: str, ingredient: str | None = None) -> int:
        """A follow-up interval (rules.json `follow_up`), with the ingredient's own value when it has one."""
        own = self.raw["follow_up"].get("by_ingredient", {}).get(ingredient or "", {})
        return int(own.get(key, self.raw["follow_up"][key]))

    def drug_notes(self, ingredient: str) -> tuple[str, ...]:
        """Warning codes every plan of this ingredient carries (rules.json `drug_notes`)."""
        notes = self.raw["drug_notes"].get(ingredient, [])
        return tuple(notes) if isinstance(notes, list) else ()

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


def _limits(raw: Any) -> Limits:
    return Limits(
        max_regimen_items=int(raw["max_regimen_items"]),
        max_strengths=int(raw["max_strengths"]),
        max_dose={unit: Decimal(str(value)) for unit, value in raw["max_dose"].items()},
        max_every_days=int(raw["max_every_days"]),
        max_opioid_use_days=int(raw["max_opioid_use_days"]),
        max_plan_days=int(raw["max_plan_days"]),
        max_steps=int(raw["max_steps"]),
        earliest_date=date.fromisoformat(raw["earliest_date"]),
        latest_date=date.fromisoformat(raw["latest_date"]),
        max_text=int(raw["max_text"]),
        max_note=int(raw["max_note"]),
        max_target_daily_mme=Decimal(str(raw["max_target_daily_mme"])),
        max_units_per_box=int(raw["max_units_per_box"]),
        max_units_per_dose=int(raw["max_units_per_dose"]),
        min_weight_kg=Decimal(str(raw["min_weight_kg"])),
        max_weight_kg=Decimal(str(raw["max_weight_kg"])),
        max_days_per_dispense=int(raw["max_days_per_dispense"]),
    )


def _read_csv(name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((_DATA / name).read_text(encoding="utf-8"), newline="")))


def _read_json(name: str) -> dict[str, Any]:
    with (_DATA / name).open(encoding="utf-8") as handle:
        loaded: dict[str, Any] = json.load(handle)
    return loaded


def _cited(value: Any, where: str) -> list[tuple[str, str]]:
    """Every `source` named anywhere in a rules.json section, with where it was found."""
    if isinstance(value, list):
        return [pair for i, item in enumerate(value) for pair in _cited(item, f"{where}[{i}]")]
    if not isinstance(value, dict):
        return []
    found = [(where, value["source"])] if isinstance(value.get("source"), str) else []
    return found + [pair for key, item in value.items() for pair in _cited(item, f"{where}.{key}")]


def _named_warnings(rules: TaperRules) -> list[tuple[str, str]]:
    """Every warning code the rules refer to, with where: each must exist in warnings.csv."""
    raw = rules.raw
    named = [
        (f"rules.json {section}", str(raw[section]["warning"]))
        for section in ("rapid", "va_fastest", "combined_rate", "naloxone")
    ]
    named += [(f"rules.json rate_checks {row['id']}", str(row["warning"])) for row in raw["rate_checks"]]
    named += [
        (f"rules.json special_situations.{key}", str(row["warning"]))
        for key, row in raw["special_situations"].items()
        if isinstance(row, dict)
    ]
    named += [
        (f"rules.json drug_notes.{key}", str(code))
        for key, codes in raw["drug_notes"].items()
        if isinstance(codes, list)
        for code in codes
    ]
    named += [
        (f"decision alert {row['id']}", str(row["warning"])) for row in rules.decisions.get("alerts", [])
    ]
    return named


def _check_sources(rules: TaperRules) -> None:
    """Every rule names a source that exists, every warning it names exists, and every warning has a
    known severity."""
    named: list[tuple[str, str]] = [(f"warning {w.code}", w.source_id) for w in rules.warnings.values()]
    named += [(f"pack {p.ingredient}", p.source_id) for p in rules.packs]
    named += _cited(rules.decisions, "decisions.json")
    named += [(f"bottle {b.ingredient} {b.concentration} mg/mL", b.source_id) for b in rules.bottles]
    named += _cited(rules.raw, "rules.json")
    for where, source_id in named:
        if source_id not in rules.sources:
            raise KnowledgeError(f"taper data: {where} cites unknown source {source_id!r}")
    for where, code in _named_warnings(rules):
        if code not in rules.warnings:
            raise KnowledgeError(f"taper data: {where} names unknown warning {code!r}")
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
