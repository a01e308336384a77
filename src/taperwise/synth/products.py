"""The generator's product table: ``products.csv`` rows read through the knowledge parser, as arrays.

Every product text the generator writes is parsed here with :func:`taperwise.knowledge.parser.parse_product`
and must be a catalogued product, so the synthetic data only ever contains names the pipeline reads —
except the deliberately unknown drugs of ``parameters.json``. Wear time, dose form, route and drug
class come from the parse, never from a second table that could disagree with it.

A *variant* is one product written in one style (RxNorm, claim or dm+d); FHIR Medications and OMOP
concepts are per variant.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt

from taperwise.errors import KnowledgeError
from taperwise.knowledge.catalogue import catalogue_entries
from taperwise.knowledge.model import DrugClass, ParseFailure, Product, Route
from taperwise.knowledge.parser import parse_product
from taperwise.synth.config import MARKETS, STYLES, ProductRow, load_config

IntArray = npt.NDArray[np.int64]
# Canonical `route` values (CONTRACTS.md); a film's route is its own (buccal or sublingual).
_ROUTE_TEXT = {
    Route.TRANSDERMAL: "transdermal",
    Route.SUBLINGUAL: "sublingual",
    Route.BUCCAL: "buccal",
    Route.ORAL: "oral",
}
_DOSE_UNIT = {"tablet": "tablet", "capsule": "capsule", "patch": "patch", "film": "film", "solution": "mL"}


@dataclass(frozen=True)
class Sig:
    """A structured dose: `dose` units `frequency` times per `period` `period_unit` (FHIR timing)."""

    dose: int
    frequency: int
    period: int
    period_unit: str  # "d" or "h" (FHIR UnitsOfTime)
    text: str


@dataclass(frozen=True)
class SynthProduct:
    row: ProductRow
    product: Product  # the parse of the row's first name; every style parses to the same product
    route: str
    dose_unit: str  # tablet, capsule, patch, film, mL
    wear_hours: int  # 0 unless a patch
    sig: Sig

    @property
    def counted(self) -> bool:
        """A full-agonist opioid: counted in MME (buprenorphine and benzodiazepines are not)."""
        return self.product.drug_class is DrugClass.OPIOID


def _parse(text: str, row: ProductRow, where: str) -> Product:
    parsed = parse_product(text)
    if isinstance(parsed, ParseFailure):
        raise KnowledgeError(f"{where}: {text!r} does not parse: {parsed.reason}")
    if not catalogue_entries(parsed, row.market):
        raise KnowledgeError(f"{where}: {text!r} is not a catalogued {row.market} product")
    return parsed


def _sig(units_per_day: int, product: Product, dose_unit: str, as_needed: bool) -> Sig:
    prn = " as needed" if as_needed else ""
    if product.is_patch:
        hours = product.wear_hours or 72
        days = hours // 24 if hours % 24 == 0 else 0
        period, unit = (days, "d") if days else (hours, "h")
        word = "day" if unit == "d" else "hour"
        return Sig(units_per_day, 1, period, unit, f"apply {units_per_day} patch every {period} {word}s")
    if dose_unit == "mL":
        dose, frequency = (
            (5, units_per_day // 5) if units_per_day % 5 == 0 and units_per_day <= 20 else (units_per_day, 1)
        )
    elif units_per_day > 4 and units_per_day % 2 == 0:
        dose, frequency = 2, units_per_day // 2
    else:
        dose, frequency = 1, units_per_day
    return Sig(dose, frequency, 1, "d", f"take {dose} {dose_unit} {frequency} times a day{prn}")


def _resolve(row: ProductRow, where: str) -> SynthProduct:
    parsed = [_parse(text, row, where) for text in row.names.values()]
    first = parsed[0]
    for other in parsed[1:]:
        if (other.opioid or other.ingredients[0]) != (first.opioid or first.ingredients[0]):
            raise KnowledgeError(f"{where}: the names of one row must be one product ({row.names})")
    dose_unit = _DOSE_UNIT.get(first.dose_form)
    route = _ROUTE_TEXT.get(first.route)
    if dose_unit is None or route is None:
        raise KnowledgeError(f"{where}: dose form {first.dose_form} / route {first.route} not supported")
    if (dose_unit == "mL") != (row.quantity_unit == "mL"):
        raise KnowledgeError(f"{where}: liquids, and only liquids, need quantity_unit mL")
    return SynthProduct(
        row=row,
        product=first,
        route=route,
        dose_unit=dose_unit,
        wear_hours=first.wear_hours or 0,
        sig=_sig(row.units_per_day, first, dose_unit, row.as_needed),
    )


@dataclass(frozen=True)
class ProductTable:
    """Products and their variants as arrays the course generator indexes with numpy."""

    products: tuple[SynthProduct, ...]
    variants: tuple[tuple[int, str, str], ...]  # (product index, style, text)
    variant_of: IntArray  # [product, style index] -> variant index, -1 when the style is absent
    ladder_table: IntArray  # [ladder index, rank] -> product index, -1 beyond the top rung
    ladder: IntArray
    rank: IntArray
    units_per_day: IntArray
    wear_hours: IntArray
    counted: npt.NDArray[np.bool_]
    roles: tuple[str, ...]

    def choose(self, rng: np.random.Generator, role: str, market: IntArray, min_rank: int = 0) -> IntArray:
        """A product of `role` for each patient's market (index into MARKETS), by the rows' weights."""
        chosen = np.empty(len(market), dtype=np.int64)
        for m, market_name in enumerate(MARKETS):
            who = np.flatnonzero(market == m)
            if not len(who):
                continue
            pool = [
                i
                for i, p in enumerate(self.products)
                if p.row.role == role and p.row.market == market_name and p.row.rank >= min_rank
            ]
            if not pool:
                raise KnowledgeError(f"products.csv: no {market_name} {role} product at rank {min_rank}+")
            weights = np.array([self.products[i].row.weight for i in pool])
            chosen[who] = rng.choice(np.array(pool), size=len(who), p=weights / weights.sum())
        return chosen

    def quantity(self, product: IntArray, days_supply: IntArray) -> IntArray:
        """Units dispensed: tablets or mL for the days, or enough patches to cover them."""
        wear = self.wear_hours[product]
        per_day = self.units_per_day[product]
        patches = np.ceil(days_supply * 24 / np.maximum(wear, 1)).astype(np.int64) * per_day
        return np.where(wear > 0, patches, per_day * days_supply)


@cache
def product_table() -> ProductTable:
    """The configured products, parsed and checked (cached)."""
    config = load_config()
    products = tuple(
        _resolve(row, f"knowledge/data/synth/products.csv, line {n}")
        for n, row in enumerate(config.products, start=2)
    )
    variants: list[tuple[int, str, str]] = []
    variant_of = np.full((len(products), len(STYLES)), -1, dtype=np.int64)
    for index, item in enumerate(products):
        for s, style in enumerate(STYLES):
            if style in item.row.names:
                variant_of[index, s] = len(variants)
                variants.append((index, style, item.row.names[style]))
    ladders = sorted({p.row.ladder for p in products})
    ladder = np.array([ladders.index(p.row.ladder) for p in products], dtype=np.int64)
    rank = np.array([p.row.rank for p in products], dtype=np.int64)
    table = np.full((len(ladders), int(rank.max()) + 1), -1, dtype=np.int64)
    table[ladder, rank] = np.arange(len(products))
    return ProductTable(
        products=products,
        variants=tuple(variants),
        variant_of=variant_of,
        ladder_table=table,
        ladder=ladder,
        rank=rank,
        units_per_day=np.array([p.row.units_per_day for p in products], dtype=np.int64),
        wear_hours=np.array([p.wear_hours for p in products], dtype=np.int64),
        counted=np.array([p.counted for p in products], dtype=np.bool_),
        roles=tuple(sorted({p.row.role for p in products})),
    )
