"""The generator's settings, read from ``knowledge/data/synth/`` — course archetypes, product mixes, harm
codes and population parameters live as data with a note on where each number comes from (almost all
are modelling choices), so the population can be changed without touching code.

Files: ``parameters.json`` (markets, name styles, sex and age, organisations, refill behaviour, malformed
share), ``archetypes.json`` (clinical courses: lines of refilled products, benzodiazepine overlap,
inherited patients, harm rates), ``products.csv`` (which product text each role uses, per market and
writing style, on strength ladders for tapers), ``events.csv`` (codes of harm events).
A file that does not add up raises :class:`KnowledgeError` naming the file and the problem.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from taperwise.errors import KnowledgeError

MARKETS = ("US", "UK")
STYLES = ("rxnorm", "claim", "dmd")
_DATA: Traversable = resources.files("taperwise.knowledge") / "data" / "synth"
_PRODUCT_COLUMNS = (
    "role",
    "market",
    "ladder",
    "rank",
    "weight",
    "units_per_day",
    "as_needed",
    "quantity_unit",
    "rxnorm",
    "claim",
    "dmd",
    "note",
)
_EVENT_COLUMNS = ("kind", "market", "code", "code_system", "display", "weight", "note")

Range = tuple[int, int]


@dataclass(frozen=True)
class Taper:
    every_fills: Range  # one strength step down every this many fills
    min_start_rank: int  # start at this rung of the ladder or higher, so there is room to step down
    hold_fills: Range  # fills at the starting strength before the first step


@dataclass(frozen=True)
class Line:
    """One product refilled over time within a course."""

    role: str
    probability: float
    group: str | None  # lines of one group are alternatives: exactly one is drawn, by probability
    fills: Range
    days_supply: dict[str, tuple[int, ...]]  # by market
    start_after_days: Range
    follows: int | None  # index of an earlier line this one starts after
    refill_gap_days: Range | None  # extra days between fills; None = on time with the global jitter
    taper: Taper | None


@dataclass(frozen=True)
class Harm:
    emergency_visits_per_year: float
    overdose: float  # probabilities over the whole window
    crisis: float
    death: float


@dataclass(frozen=True)
class Archetype:
    id: str
    share: float
    lead_in_days: int
    long_term: bool
    benzodiazepine_share: float
    inherited_share: float
    multi_provider: bool
    harm: Harm
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class ProductRow:
    role: str
    market: str
    ladder: str
    rank: int
    weight: float
    units_per_day: int
    as_needed: bool
    quantity_unit: str
    names: dict[str, str]  # writing style -> product text


@dataclass(frozen=True)
class EventCode:
    kind: str
    market: str  # "US", "UK" or "*"
    code: str
    code_system: str
    display: str
    weight: float


@dataclass(frozen=True)
class Refills:
    early_refill_share: float
    early_by_days: Range
    gap_share: float
    gap_days: Range
    jitter_days: Range


@dataclass(frozen=True)
class Malformed:
    share: float
    kinds: tuple[str, ...]
    fhir_kinds: tuple[str, ...]
    unknown_drugs: tuple[str, ...]
    bad_dates: tuple[str, ...]


@dataclass(frozen=True)
class Parameters:
    version: str
    default_window: tuple[str, str]
    markets: dict[str, float]
    name_styles: dict[str, dict[str, float]]
    female_share: float
    age_years: dict[str, float]
    organisations: dict[str, dict[str, str]]  # market -> organisation id -> name
    prescribers_per_organisation: int
    pharmacies_per_organisation: int
    refills: Refills
    covering_prescriber_share: float
    other_pharmacy_share: float
    structured_sig_share: float
    malformed: Malformed
    overdose_death_share: float


@dataclass(frozen=True)
class SynthConfig:
    parameters: Parameters
    archetypes: tuple[Archetype, ...]
    benzodiazepine_line: Line
    products: tuple[ProductRow, ...]
    events: tuple[EventCode, ...]


def _range(value: Any, where: str) -> Range:
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value)):
        raise KnowledgeError(f"{where}: expected [min, max] whole numbers, got {value!r}")
    low, high = value
    if low > high:
        raise KnowledgeError(f"{where}: min {low} is above max {high}")
    return (low, high)


def _share(value: Any, where: str) -> float:
    if not isinstance(value, int | float) or not 0 <= value <= 1:
        raise KnowledgeError(f"{where}: expected a share between 0 and 1, got {value!r}")
    return float(value)


def _line(raw: dict[str, Any], where: str) -> Line:
    try:
        taper_raw = raw.get("taper")
        taper = None
        if taper_raw is not None:
            taper = Taper(
                every_fills=_range(taper_raw["every_fills"], f"{where}.taper.every_fills"),
                min_start_rank=int(taper_raw["min_start_rank"]),
                hold_fills=_range(taper_raw["hold_fills"], f"{where}.taper.hold_fills"),
            )
        supplies = {market: tuple(int(d) for d in raw["days_supply"][market]) for market in MARKETS}
        gap = raw.get("refill_gap_days")
        return Line(
            role=raw.get("role", "benzodiazepine"),
            probability=_share(raw.get("probability", 1.0), f"{where}.probability"),
            group=raw.get("group"),
            fills=_range(raw["fills"], f"{where}.fills"),
            days_supply=supplies,
            start_after_days=_range(raw["start_after_days"], f"{where}.start_after_days"),
            follows=raw.get("follows"),
            refill_gap_days=None if gap is None else _range(gap, f"{where}.refill_gap_days"),
            taper=taper,
        )
    except KeyError as exc:
        raise KnowledgeError(f"{where}: missing field {exc}") from exc


def _archetype(raw: dict[str, Any], where: str) -> Archetype:
    try:
        harm = raw["harm"]
        lines = tuple(_line(line, f"{where}.lines[{i}]") for i, line in enumerate(raw["lines"]))
        for i, line in enumerate(lines):
            if line.follows is not None and not 0 <= line.follows < i:
                raise KnowledgeError(f"{where}.lines[{i}]: follows must name an earlier line")
        return Archetype(
            id=raw["id"],
            share=_share(raw["share"], f"{where}.share"),
            lead_in_days=int(raw["lead_in_days"]),
            long_term=bool(raw["long_term"]),
            benzodiazepine_share=_share(raw["benzodiazepine_share"], f"{where}.benzodiazepine_share"),
            inherited_share=_share(raw["inherited_share"], f"{where}.inherited_share"),
            multi_provider=bool(raw["multi_provider"]),
            harm=Harm(
                emergency_visits_per_year=float(harm["emergency_visits_per_year"]),
                overdose=_share(harm["overdose"], f"{where}.harm.overdose"),
                crisis=_share(harm["crisis"], f"{where}.harm.crisis"),
                death=_share(harm["death"], f"{where}.harm.death"),
            ),
            lines=lines,
        )
    except KeyError as exc:
        raise KnowledgeError(f"{where}: missing field {exc}") from exc


def _read_json(name: str) -> dict[str, Any]:
    try:
        loaded = json.loads((_DATA / name).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise KnowledgeError(f"knowledge/data/synth/{name}: cannot be read ({exc})") from exc
    if not isinstance(loaded, dict):
        raise KnowledgeError(f"knowledge/data/synth/{name}: expected a JSON object")
    return loaded


def _read_csv(name: str, columns: tuple[str, ...]) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO((_DATA / name).read_text(encoding="utf-8"), newline=""))
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        raise KnowledgeError(f"knowledge/data/synth/{name}: missing column(s) {', '.join(missing)}")
    return list(reader)


def _parameters(raw: dict[str, Any]) -> Parameters:
    where = "knowledge/data/synth/parameters.json"
    try:
        refills, malformed = raw["refills"], raw["malformed"]
        return Parameters(
            version=str(raw["version"]),
            default_window=(raw["default_window"]["start"], raw["default_window"]["end"]),
            markets={m: _share(raw["markets"][m], f"{where}: markets.{m}") for m in MARKETS},
            name_styles={m: dict(raw["name_styles"][m]) for m in MARKETS},
            female_share=_share(raw["sex"]["female"], f"{where}: sex.female"),
            age_years={k: float(v) for k, v in raw["age_years"].items()},
            organisations={m: dict(raw["organisations"][m]) for m in MARKETS},
            prescribers_per_organisation=int(raw["prescribers_per_organisation"]),
            pharmacies_per_organisation=int(raw["pharmacies_per_organisation"]),
            refills=Refills(
                early_refill_share=_share(refills["early_refill_share"], f"{where}: early_refill_share"),
                early_by_days=_range(refills["early_by_days"], f"{where}: early_by_days"),
                gap_share=_share(refills["gap_share"], f"{where}: gap_share"),
                gap_days=_range(refills["gap_days"], f"{where}: gap_days"),
                jitter_days=_range(refills["jitter_days"], f"{where}: jitter_days"),
            ),
            covering_prescriber_share=_share(raw["covering_prescriber_share"], where),
            other_pharmacy_share=_share(raw["other_pharmacy_share"], where),
            structured_sig_share=_share(raw["structured_sig_share"], where),
            malformed=Malformed(
                share=_share(malformed["share"], f"{where}: malformed.share"),
                kinds=tuple(malformed["kinds"]),
                fhir_kinds=tuple(malformed["fhir_kinds"]),
                unknown_drugs=tuple(malformed["unknown_drugs"]),
                bad_dates=tuple(malformed["bad_dates"]),
            ),
            overdose_death_share=_share(raw["overdose_death_share"], where),
        )
    except KeyError as exc:
        raise KnowledgeError(f"{where}: missing field {exc}") from exc


def _product(row: dict[str, str], where: str) -> ProductRow:
    try:
        product = ProductRow(
            role=row["role"],
            market=row["market"],
            ladder=row["ladder"],
            rank=int(row["rank"]),
            weight=float(row["weight"]),
            units_per_day=int(row["units_per_day"]),
            as_needed=row["as_needed"].strip().lower() == "true",
            quantity_unit=row["quantity_unit"].strip(),
            names={style: row[style].strip() for style in STYLES if row[style].strip()},
        )
    except ValueError as exc:
        raise KnowledgeError(f"{where}: {exc}") from exc
    if product.market not in MARKETS or not product.names or product.weight <= 0:
        raise KnowledgeError(f"{where}: needs a market in {MARKETS}, a positive weight and a product name")
    return product


def _check_ladders(products: tuple[ProductRow, ...]) -> None:
    ladders: dict[str, list[int]] = {}
    for product in products:
        ladders.setdefault(product.ladder, []).append(product.rank)
    for ladder, ranks in ladders.items():
        if sorted(ranks) != list(range(len(ranks))):
            raise KnowledgeError(
                f"knowledge/data/synth/products.csv: ladder {ladder!r} ranks {sorted(ranks)} "
                "must run 0, 1, 2…"
            )


@cache
def load_config() -> SynthConfig:
    """Read and check every generator data file (cached)."""
    parameters = _parameters(_read_json("parameters.json"))
    raw = _read_json("archetypes.json")
    archetypes = tuple(
        _archetype(item, f"archetypes.json: {item.get('id', i)}") for i, item in enumerate(raw["archetypes"])
    )
    if abs(sum(a.share for a in archetypes) - 1) > 1e-9:
        raise KnowledgeError("knowledge/data/synth/archetypes.json: archetype shares must sum to 1")
    products = tuple(
        _product(row, f"products.csv, line {n}")
        for n, row in enumerate(_read_csv("products.csv", _PRODUCT_COLUMNS), start=2)
    )
    _check_ladders(products)
    roles = {(p.role, p.market) for p in products}
    benzodiazepine_line = _line(raw["benzodiazepine_line"], "archetypes.json: benzodiazepine_line")
    for archetype in archetypes:
        for line in (*archetype.lines, benzodiazepine_line):
            absent = [m for m in MARKETS if (line.role, m) not in roles]
            if absent:
                raise KnowledgeError(
                    f"archetypes.json: {archetype.id} uses role {line.role!r}, which products.csv lacks "
                    f"for {', '.join(absent)}"
                )
    events = tuple(
        EventCode(
            row["kind"], row["market"], row["code"], row["code_system"], row["display"], float(row["weight"])
        )
        for row in _read_csv("events.csv", _EVENT_COLUMNS)
    )
    return SynthConfig(parameters, archetypes, benzodiazepine_line, products, events)
