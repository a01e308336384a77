"""The curated product catalogue: real products, their strengths, and what is on the market.

``data/products.csv`` holds one row per marketed strength of an opioid, buprenorphine or benzodiazepine
product in US or UK practice, with its source. The taper engine rounds steps to these strengths, so a
strength that is not sold in the patient's market must never be offered: pass ``market`` when it is
known. Product codes (RxCUI, NDC, dm+d) stay empty unless copied from a verified terminology file —
never typed from memory — because a wrong code silently attaches the wrong product to a patient.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources

from taperwise.errors import KnowledgeError
from taperwise.knowledge.factors import load_sources, read_data_csv
from taperwise.knowledge.model import STRENGTH_UNITS, IngredientStrength, Product, Release, Route
from taperwise.knowledge.vocabulary import load_vocabulary

MARKETS = ("US", "UK")
_DATA = resources.files("taperwise.knowledge") / "data"
_COLUMNS = ("ingredient", "partners", "dose_form", "route", "release", "strength", "unit", "wear_hours",
            "markets", "rxcui", "ndc", "dmd", "source_id", "note")  # fmt: skip


@dataclass(frozen=True)
class CatalogueEntry:
    """One marketed strength of one product (the strength is the principal ingredient's)."""

    ingredient: str
    partners: tuple[str, ...]  # other ingredients of a combination, sorted: ("acetaminophen",)
    partner_strengths: tuple[Decimal, ...]  # in the order of `partners`, in the row's unit
    dose_form: str
    route: Route
    release: Release
    strength: Decimal
    unit: str
    wear_hours: int | None
    markets: tuple[str, ...]
    rxcui: str | None
    ndc: str | None
    dmd: str | None
    source_id: str
    note: str


def _entry(row: dict[str, str], where: str, known: set[str]) -> CatalogueEntry:
    try:
        strength = Decimal(row["strength"])
        route, release = Route(row["route"]), Release(row["release"])
    except (InvalidOperation, ValueError) as exc:
        raise KnowledgeError(f"{where}: {exc}") from exc
    # "acetaminophen 325; caffeine 30": each partner with its strength in the row's unit.
    pairs = sorted(tuple(p.split()) for p in row["partners"].split(";") if p.strip())
    if any(len(pair) != 2 for pair in pairs):
        raise KnowledgeError(f"{where}: partners must read 'name strength; name strength'")
    partners = tuple(name for name, _ in pairs)
    try:
        partner_strengths = tuple(Decimal(value) for _, value in pairs)
    except InvalidOperation as exc:
        raise KnowledgeError(f"{where}: a partner strength is not a number") from exc
    unknown = [name for name in (row["ingredient"], *partners) if name not in known]
    markets = tuple(m.strip() for m in row["markets"].split(";") if m.strip())
    problems = [
        f"ingredient(s) {unknown} not in ingredients.csv" if unknown else "",
        f"unit {row['unit']!r} is not one of {STRENGTH_UNITS}" if row["unit"] not in STRENGTH_UNITS else "",
        f"markets {markets} must come from {MARKETS}" if not markets or set(markets) - set(MARKETS) else "",
        "a patch needs wear_hours" if row["dose_form"] == "patch" and not row["wear_hours"].strip() else "",
        "strength must be positive" if strength <= 0 else "",
    ]
    if any(problems):
        raise KnowledgeError(f"{where}: {'; '.join(p for p in problems if p)}")
    return CatalogueEntry(
        ingredient=row["ingredient"],
        partners=partners,
        partner_strengths=partner_strengths,
        dose_form=row["dose_form"],
        route=route,
        release=release,
        strength=strength,
        unit=row["unit"],
        wear_hours=int(row["wear_hours"]) if row["wear_hours"].strip() else None,
        markets=markets,
        rxcui=row["rxcui"].strip() or None,
        ndc=row["ndc"].strip() or None,
        dmd=row["dmd"].strip() or None,
        source_id=row["source_id"],
        note=row["note"],
    )


@cache
def load_catalogue() -> tuple[CatalogueEntry, ...]:
    """Every catalogue row, validated; raises KnowledgeError naming the line of a bad row."""
    known = set(load_vocabulary().ingredients)
    sources = load_sources()
    reader = read_data_csv(_DATA / "products.csv")
    missing = [column for column in _COLUMNS if column not in (reader.fieldnames or [])]
    if missing:
        raise KnowledgeError(f"knowledge/data/products.csv: missing column(s) {', '.join(missing)}")
    entries = []
    for number, row in enumerate(reader, start=2):
        where = f"products.csv, line {number}"
        if row["source_id"] not in sources:
            raise KnowledgeError(f"{where}: source {row['source_id']!r} is not in sources.csv")
        entries.append(_entry(row, where, known))
    return tuple(entries)


def _in_market(entry: CatalogueEntry, market: str | None) -> bool:
    return market is None or market in entry.markets


def available_strengths(
    ingredient: str,
    route: Route,
    release: Release,
    dose_form: str,
    market: str | None = None,
    partners: tuple[str, ...] = (),
) -> tuple[Decimal, ...]:
    """Marketed strengths, ascending, in the product's strength unit (mg per tablet; mcg/hr for patches).

    ``market`` ("US" or "UK") restricts to one market; None gives the union of both. ``partners`` names
    the other ingredients of a combination (default: single-ingredient products only).

    >>> [str(s) for s in available_strengths("morphine", Route.ORAL, Release.EXTENDED, "tablet", "US")]
    ['15', '30', '60', '100', '200']
    """
    wanted = tuple(sorted(partners))
    rows = _product_rows(ingredient, route, release, dose_form, wanted, market)
    return tuple(sorted({entry.strength for entry in rows}))


def _product_rows(
    ingredient: str,
    route: Route,
    release: Release,
    dose_form: str,
    partners: tuple[str, ...],
    market: str | None,
) -> list[CatalogueEntry]:
    """Catalogue rows of one product (ingredient, partner names, form, route, release) in `market`."""
    return [
        entry
        for entry in load_catalogue()
        if entry.ingredient == ingredient
        and entry.route is route
        and entry.release is release
        and entry.dose_form == dose_form
        and entry.partners == partners
        and _in_market(entry, market)
    ]


def combination_line(
    ingredient: str,
    route: Route,
    release: Release,
    dose_form: str,
    partners: tuple[tuple[str, Decimal], ...],
    strength: Decimal | None,
    market: str | None = None,
) -> dict[Decimal, tuple[Decimal, ...]]:
    """The marketed strengths of the combination product a patient takes: principal strength -> partner
    strengths (in the order of the sorted partner names).

    A product line keeps its partner fixed (co-codamol x/500, hydrocodone/acetaminophen x/325) or in a
    fixed ratio (oxycodone/naloxone 2:1); the line of the given product (`strength` with `partners`) is
    whichever of the two has more members (the fixed line when `strength` is unknown). Empty when the
    catalogue does not list the combination.
    """
    named = tuple(sorted(partners))
    names = tuple(name for name, _ in named)
    own = tuple(value for _, value in named)
    rows = {
        entry.strength: entry.partner_strengths
        for entry in _product_rows(ingredient, route, release, dose_form, names, market)
    }
    fixed = {s: p for s, p in rows.items() if p == own}
    if strength is None:
        return fixed
    ratio = {s: p for s, p in rows.items() if all(a * strength == b * s for a, b in zip(p, own, strict=True))}
    return fixed if len(fixed) >= len(ratio) else ratio


def patch_wear_hours(ingredient: str) -> int | None:
    """How long one patch of this ingredient is worn (72 for fentanyl), or None if not a patch drug."""
    known = load_vocabulary().ingredients.get(ingredient)
    return known.patch_wear_hours if known else None


def principal_ingredient(product: Product) -> IngredientStrength | None:
    """The ingredient the catalogue is keyed on: the opioid, else the benzodiazepine; None otherwise."""
    if product.opioid is not None:
        return product.opioid
    return next((item for item in product.ingredients if item.drug_class is product.drug_class), None)


def catalogue_entries(product: Product, market: str | None = None) -> tuple[CatalogueEntry, ...]:
    """Catalogue rows that are this parsed product (same ingredient, partners, form, route, release,
    strength and, for patches, wear time). Empty when the catalogue does not list it."""
    principal = principal_ingredient(product)
    if principal is None:
        return ()
    others = sorted((item.ingredient, item.strength) for item in product.ingredients if item is not principal)
    partners = tuple(name for name, _ in others)
    partner_strengths = tuple(strength for _, strength in others)
    return tuple(
        entry
        for entry in load_catalogue()
        if entry.ingredient == principal.ingredient
        and entry.partners == partners
        and entry.partner_strengths == partner_strengths
        and entry.dose_form == product.dose_form
        and entry.route is product.route
        and entry.release is product.release
        and entry.strength == principal.strength
        and entry.unit == principal.unit
        and (entry.wear_hours is None or entry.wear_hours == product.wear_hours)
        and _in_market(entry, market)
    )
