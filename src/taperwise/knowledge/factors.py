"""Conversion-factor sets: versioned data, each row with its source.

A factor set is a CSV in ``data/factors/`` with one row per (ingredient, route, daily-dose tier). A row
whose route is ``*`` applies to every route not named by a more specific row. Tiers are half-open
intervals ``(dose_above, dose_up_to]`` on the prescription's own daily dose of that ingredient, as the CDC
2016 methadone table is written. The exposure engine turns the same rows into an engine expression, and
the taper engine asks :meth:`FactorSet.lookup` for a single dose: one source of truth for both.

Whether buprenorphine counts is a property of the set too (``buprenorphine_counted_routes`` in
``sets.csv``): the US sets never count it, the UK oral-morphine-equivalent sets count patches. Only the
transdermal route may ever be listed: sublingual, buccal and film buprenorphine (opioid use disorder
treatment among them) is never in a total, whatever a set says.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from taperwise.errors import KnowledgeError

DEFAULT_FACTOR_SET = "cdc-2022"
# The only routes on which any set may count buprenorphine (decision 0010).
COUNTABLE_BUPRENORPHINE_ROUTES = frozenset({"transdermal"})
BUPRENORPHINE_NEVER = "buprenorphine: partial agonist, reported separately, never in MME"
_DATA = resources.files("taperwise.knowledge") / "data"


@dataclass(frozen=True)
class Source:
    source_id: str
    citation: str
    url: str
    accessed: str


@dataclass(frozen=True)
class Factor:
    """One conversion factor: MME per `unit` of the ingredient per day, inside its dose tier."""

    ingredient: str
    route: str  # a Route value, or "*" for any route
    unit: str  # the unit the factor multiplies: mg, mcg or mcg/hr
    dose_above: Decimal | None
    dose_up_to: Decimal | None
    factor: Decimal
    source_id: str
    note: str

    def covers(self, daily_dose: Decimal) -> bool:
        if self.dose_above is not None and not daily_dose > self.dose_above:
            return False
        return self.dose_up_to is None or daily_dose <= self.dose_up_to

    @property
    def tiered(self) -> bool:
        return self.dose_above is not None or self.dose_up_to is not None


@dataclass(frozen=True)
class FactorSet:
    set_id: str
    version: str
    label: str
    dose_term: str  # "MME" (US) or "OME" (UK oral morphine equivalent)
    description: str
    factors: tuple[Factor, ...]
    sources: dict[str, Source]
    buprenorphine_routes: tuple[str, ...] = ()  # routes on which buprenorphine counts; () = never

    def counts_buprenorphine(self, route: str | None) -> bool:
        """Whether buprenorphine by this route is in the set's total (else it is `excluded`)."""
        return route in self.buprenorphine_routes

    def buprenorphine_exclusion(self, route: str) -> str:
        """Why buprenorphine by `route` is not in the set's total (the engine writes the same words)."""
        if not self.buprenorphine_routes:
            return BUPRENORPHINE_NEVER
        return f"buprenorphine ({route}): not counted; {self.set_id} counts only buprenorphine patches"

    def route_key(self, ingredient: str, route: str) -> str:
        """The route column a product's factor comes from: its own route if the set names it, else ``*``."""
        if any(f.ingredient == ingredient and f.route == route for f in self.factors):
            return route
        return "*"

    def candidates(self, ingredient: str, route: str) -> tuple[Factor, ...]:
        """Rows for this ingredient and route: the route's own rows if any, else the ``*`` rows."""
        key = self.route_key(ingredient, route)
        return tuple(f for f in self.factors if f.ingredient == ingredient and f.route == key)

    def lookup(self, ingredient: str, route: str, daily_dose: Decimal) -> Factor | None:
        """The factor for a daily dose (in the factor's unit), or None when the set has none."""
        for candidate in self.candidates(ingredient, route):
            if candidate.covers(daily_dose):
                return candidate
        return None

    def citation(self, factor: Factor) -> str:
        """Short provenance shown on every output row: set, version and source id."""
        return f"{self.set_id}@{self.version}:{factor.source_id}"


def _decimal(value: str, where: str) -> Decimal | None:
    if value.strip() == "":
        return None
    try:
        return Decimal(value)
    except InvalidOperation as exc:
        raise KnowledgeError(f"{where}: {value!r} is not a number") from exc


def read_data_csv(path: Path | resources.abc.Traversable) -> csv.DictReader[str]:
    """A CSV reader over a packaged data file (read whole: the files are small)."""
    return csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline=""))


def read_data_json(path: Path | resources.abc.Traversable, label: str) -> dict[str, Any]:
    """A packaged JSON data file holding one object; KnowledgeError naming `label` when it is not one."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise KnowledgeError(f"{label}: not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise KnowledgeError(f"{label}: must hold a JSON object")
    return value


def _read_csv(path: Path | resources.abc.Traversable) -> list[dict[str, str]]:
    return list(read_data_csv(path))


@cache
def load_sources() -> dict[str, Source]:
    return {
        row["source_id"]: Source(row["source_id"], row["citation"], row["url"], row["accessed"])
        for row in _read_csv(_DATA / "sources.csv")
    }


def available_factor_sets() -> tuple[str, ...]:
    return tuple(row["set_id"] for row in _read_csv(_DATA / "factors" / "sets.csv"))


@cache
def load_factor_set(set_id: str = DEFAULT_FACTOR_SET) -> FactorSet:
    """Load a factor set by id; raises KnowledgeError naming the known sets if it does not exist."""
    meta = {row["set_id"]: row for row in _read_csv(_DATA / "factors" / "sets.csv")}
    if set_id not in meta:
        raise KnowledgeError(f"unknown factor set {set_id!r}; known sets: {', '.join(sorted(meta))}")
    sources = load_sources()
    factors = []
    for number, row in enumerate(_read_csv(_DATA / "factors" / f"{set_id}.csv"), start=2):
        where = f"factor set {set_id}, line {number}"
        if row["source_id"] not in sources:
            raise KnowledgeError(f"{where}: source {row['source_id']!r} is not in sources.csv")
        factor = _decimal(row["factor"], where)
        if factor is None or factor <= 0:
            raise KnowledgeError(f"{where}: a factor must be a positive number")
        factors.append(
            Factor(
                ingredient=row["ingredient"],
                route=row["route"],
                unit=row["unit"],
                dose_above=_decimal(row["dose_above"], where),
                dose_up_to=_decimal(row["dose_up_to"], where),
                factor=factor,
                source_id=row["source_id"],
                note=row.get("note", ""),
            )
        )
    info = meta[set_id]
    counted = _buprenorphine_routes(set_id, info.get("buprenorphine_counted_routes") or "", factors)
    return FactorSet(
        set_id=set_id,
        version=info["version"],
        label=info["label"],
        dose_term=info["dose_term"],
        description=info["description"],
        factors=tuple(factors),
        sources=sources,
        buprenorphine_routes=counted,
    )


def _buprenorphine_routes(set_id: str, text: str, factors: list[Factor]) -> tuple[str, ...]:
    """The set's counted buprenorphine routes, checked against the rule and against its factor rows."""
    where = f"factor set {set_id}"
    routes = tuple(sorted({route.strip() for route in text.split(";") if route.strip()}))
    refused = [route for route in routes if route not in COUNTABLE_BUPRENORPHINE_ROUTES]
    if refused:
        allowed = ", ".join(sorted(COUNTABLE_BUPRENORPHINE_ROUTES))
        raise KnowledgeError(
            f"{where}: buprenorphine may be counted only by {allowed}, not {', '.join(refused)} "
            "(sublingual, buccal and film buprenorphine is never counted)"
        )
    rows = {factor.route for factor in factors if factor.ingredient == "buprenorphine"}
    if rows - set(routes):
        raise KnowledgeError(
            f"{where}: buprenorphine factor rows for {', '.join(sorted(rows - set(routes)))}, but the set "
            "does not count buprenorphine there (buprenorphine_counted_routes in sets.csv)"
        )
    if set(routes) - rows:
        raise KnowledgeError(
            f"{where}: counts buprenorphine by {', '.join(sorted(set(routes) - rows))} but has no factor row"
        )
    return routes
