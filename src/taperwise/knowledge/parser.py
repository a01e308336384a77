"""Read a product text — RxNorm, pharmacy-claim or UK dm+d style — into a `Product`, or say why not.

The rule: **never guess silently.** Every word must be known to a vocabulary file (`vocabulary.py`);
strengths are paired with ingredients by their written order, which all three styles share
("HYDROCODONE-ACETAMINOPHEN 10-325", "Co-codamol 30mg/500mg", "Acetaminophen 325 MG / Oxycodone ...
5 MG"); and anything that does not add up — an unknown word, two strengths for three ingredients, a
liquid without a volume, a patch without a rate — is a `ParseFailure` whose reason a data manager can
act on. Where a convention fills a gap (no dose form in a claim, "5-325" without a unit), the product
carries a note saying so.

>>> product = parse_product("OXYCODONE HCL 5 MG TAB")
>>> product.opioid.ingredient, product.opioid.strength, product.opioid.unit
('oxycodone', Decimal('5'), 'mg')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache

from taperwise.knowledge.model import DrugClass, IngredientStrength, ParseFailure, Product, Release, Route
from taperwise.knowledge.reading import Item, ItemKind, ProductTextError, clean_text, read_items
from taperwise.knowledge.strengths import Amount, Strength, normalise, read_group
from taperwise.knowledge.vocabulary import Brand, FormWord, TermKind, Vocabulary, load_vocabulary

# The most specific route named wins: "nasal spray" is nasal, "sublingual spray" is an oral spray —
# the split the CDC factors make (clinical-rules §1).
_ROUTE_PRECEDENCE = (
    Route.NASAL, Route.ORAL_SPRAY, Route.TRANSDERMAL, Route.INJECTION, Route.RECTAL, Route.BUCCAL,
    Route.SUBLINGUAL, Route.ORAL,
)  # fmt: skip
# A film is given where the text says: buccal (Belbuca: buprenorphine for pain) or sublingual (Suboxone:
# treatment of opioid use disorder), else oral ("Oral Film"). Neither is assumed.
_FILM_ROUTES = (Route.BUCCAL, Route.SUBLINGUAL)
# A form word that names how the product is given outranks a generic one ("Injectable Solution").
_SPECIFIC_FORMS = frozenset({"injection", "patch", "film", "spray", "suppository", "lozenge"})
_LIQUID_FORMS = frozenset({"solution", "suspension"})
_PER_UNIT_FORMS = frozenset({"tablet", "dispersible tablet", "capsule", "film", "lozenge", "suppository"})
_RXNORM_UNITS = re.compile(r"(?<![A-Za-z])(?:MG|MCG|ML|HR)(?![A-Za-z])")


@dataclass
class _Reading:
    ingredients: list[str] = field(default_factory=list)
    brands: list[Brand] = field(default_factory=list)
    forms: list[FormWord] = field(default_factory=list)
    amounts: list[Amount] = field(default_factory=list)
    durations: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@lru_cache(maxsize=8192)
def parse_product(text: str) -> Product | ParseFailure:
    """Parse one product text. Pure; never raises on any string."""
    try:
        return _parse(text)
    except ProductTextError as exc:
        return ParseFailure(text=text, reason=str(exc))


def writing_style(text: str) -> str:
    """Which style a text is in: rxnorm (MG/ML units or a [Brand]), claim (all capitals) or dmd."""
    if "[" in text:
        return "rxnorm"
    if not any(char.islower() for char in text):
        return "claim"
    return "rxnorm" if _RXNORM_UNITS.search(text) else "dmd"


def _parse(text: str) -> Product:
    vocabulary = load_vocabulary()
    reading = _read(read_items(clean_text(text), vocabulary))
    return _assemble(text, reading, vocabulary)


def _read(items: list[Item]) -> _Reading:
    reading = _Reading()
    index = 0
    while index < len(items):
        item = items[index]
        if item.kind is ItemKind.NUMBER:
            group, index = read_group(items, index)
            reading.amounts.extend(group.amounts)
            if group.duration_hours is not None:
                reading.durations.append(group.duration_hours)
            continue
        if item.kind is ItemKind.WORD:
            raise ProductTextError(_unknown_word(item, items, index, reading))
        if item.kind is ItemKind.UNIT:
            raise ProductTextError(f"unit '{item.raw}' has no number before it")
        if item.kind is ItemKind.TERM and item.term is not None:
            _read_term(reading, item)
        index += 1
    return reading


def _unknown_word(item: Item, items: list[Item], index: int, reading: _Reading) -> str:
    # Before any ingredient, or right before a strength, an unknown word stands where an ingredient
    # would: say so. Elsewhere it is more likely a form or wording the vocabulary lacks. A near miss of a
    # known name ("Oxycodon", "Morfine") is named, never taken for it.
    vocabulary = load_vocabulary()
    before_strength = index + 1 < len(items) and items[index + 1].kind is ItemKind.NUMBER
    if before_strength or not (reading.ingredients or reading.brands):
        reason = (
            f"unknown ingredient '{item.raw}' (not in knowledge/data ingredients.csv, synonyms.csv "
            "or brands.csv)"
        )
        near = vocabulary.near_misses(item.raw, (TermKind.INGREDIENT, TermKind.BRAND))
    else:
        reason = (
            f"unknown word '{item.raw}' (not a known form, release, salt or filler word in knowledge/data)"
        )
        near = vocabulary.near_misses(item.raw, (TermKind.FORM, TermKind.SALT))
    return f"{reason}; did you mean {' or '.join(near)}?" if near else reason


def _read_term(reading: _Reading, item: Item) -> None:
    term = item.term
    assert term is not None
    if term.kind is TermKind.INGREDIENT and term.ingredient is not None:
        reading.ingredients.append(term.ingredient)
    elif term.kind is TermKind.BRAND and term.brand is not None:
        if term.brand.generic_name:
            reading.ingredients.extend(term.brand.ingredients)
        else:
            reading.brands.append(term.brand)
    elif term.kind is TermKind.FORM and term.form is not None:
        reading.forms.append(term.form)


def _assemble(text: str, reading: _Reading, vocabulary: Vocabulary) -> Product:
    brand = _brand(reading.brands)
    names = _ingredient_names(text, reading.ingredients, brand)
    amounts = _amounts(text, reading)
    if len(amounts) != len(names):
        raise ProductTextError(
            f"strength count ({len(amounts)}) does not match ingredient count ({len(names)}) "
            f"in '{text.strip()}'"
        )
    strengths = [
        normalise(amount, vocabulary.ingredients[name]) for amount, name in zip(amounts, names, strict=True)
    ]
    reading.notes.extend(s.note for s in strengths if s.note)
    dose_form = _dose_form(reading, brand, strengths)
    _check_basis(dose_form, strengths)
    route = _route(reading, brand, dose_form)
    release = _release(reading, brand, dose_form)
    wear_hours = _wear_hours(reading, brand, names, vocabulary) if dose_form == "patch" else None
    values = [
        _counted_strength(reading, vocabulary, name, strength, dose_form, release)
        for name, strength in zip(names, strengths, strict=True)
    ]
    classes = [vocabulary.ingredients[name].drug_class for name in names]
    has_opioid = DrugClass.OPIOID in classes
    cough_cold = has_opioid and (
        any(vocabulary.ingredients[name].cough_cold_partner for name in names)
        or any(word.cough_cold for word in reading.forms)
    )
    return Product(
        text=text,
        ingredients=tuple(
            IngredientStrength(name, value, strength.unit, drug_class)
            for name, value, strength, drug_class in zip(names, values, strengths, classes, strict=True)
        ),
        dose_form=dose_form,
        route=route,
        release=release,
        wear_hours=wear_hours,
        brand=brand.name if brand else None,
        style=writing_style(text),
        cough_cold=cough_cold,
        notes=tuple(reading.notes),
    )


def _brand(brands: list[Brand]) -> Brand | None:
    distinct = {brand.name: brand for brand in brands}
    if len(distinct) > 1:
        raise ProductTextError(f"two brands named: {', '.join(sorted(distinct))}")
    return next(iter(distinct.values()), None)


def _ingredient_names(text: str, named: list[str], brand: Brand | None) -> list[str]:
    names = list(named)
    if brand is not None:
        if not names:
            names = list(brand.ingredients)
        elif set(names) != set(brand.ingredients):
            raise ProductTextError(
                f"brand '{brand.name}' is {' + '.join(brand.ingredients)} "
                f"but the text names {' + '.join(names)}"
            )
    if not names:
        raise ProductTextError(f"no ingredient found in '{text.strip()}'")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ProductTextError(f"ingredient '{repeated[0]}' is named more than once")
    return names


def _amounts(text: str, reading: _Reading) -> list[Amount]:
    amounts = reading.amounts
    if not amounts:
        raise ProductTextError(f"no strength found in '{text.strip()}'")
    with_volume = [amount for amount in amounts if amount.per_unit is not None]
    if with_volume and len(with_volume) < len(amounts):
        last = amounts[-1]
        if not (last.per_by_word and all(amount.per_unit is None for amount in amounts[:-1])):
            raise ProductTextError("some strengths say what they are per (mL, hour) and others do not")
        # RxNorm writes "Codeine 10 MG / Guaifenesin 100 MG per 5 ML": the volume covers every strength.
        amounts = [Amount(a.value, a.unit, last.per_value, last.per_unit, True) for a in amounts]
    if any(amount.unit is None for amount in amounts):
        if len(amounts) < 2 or any(amount.unit is not None for amount in amounts):
            bare = next(amount for amount in amounts if amount.unit is None)
            raise ProductTextError(f"strength '{bare.value}' has no unit")
        written = "-".join(str(amount.value) for amount in amounts)
        reading.notes.append(f"no unit in '{written}': mg assumed, the claim convention for combinations")
        amounts = [Amount(a.value, "mg", a.per_value, a.per_unit, a.per_by_word) for a in amounts]
    return amounts


def _dose_form(reading: _Reading, brand: Brand | None, strengths: list[Strength]) -> str:
    named = {word.dose_form for word in reading.forms if word.dose_form}
    specific = named & _SPECIFIC_FORMS
    candidates = specific or named
    if len(candidates) > 1:
        raise ProductTextError(f"conflicting dose forms: {', '.join(sorted(candidates))}")
    if candidates:
        form = candidates.pop()
        if brand and brand.dose_form and brand.dose_form != form:
            reading.notes.append(f"text says {form}; brand {brand.name} is usually a {brand.dose_form}")
        return form
    if brand and brand.dose_form:
        return brand.dose_form
    bases = {strength.basis for strength in strengths}
    if bases == {"hr"}:
        reading.notes.append("dose form not stated: patch inferred from a strength per hour")
        return "patch"
    if bases == {"ml"}:
        reading.notes.append("dose form not stated: oral liquid inferred from a strength per mL")
        return "solution"
    reading.notes.append("dose form not stated")
    return "unspecified"


def _check_basis(dose_form: str, strengths: list[Strength]) -> None:
    for strength in strengths:
        shown = f"{strength.value} {strength.unit}"
        if dose_form == "patch" and strength.basis != "hr":
            raise ProductTextError(f"patch strength '{shown}' is not a rate (mcg/hr)")
        if dose_form != "patch" and strength.basis == "hr":
            raise ProductTextError(f"strength '{shown}' is a rate per hour but the product is a {dose_form}")
        if dose_form in _LIQUID_FORMS and strength.basis != "ml":
            raise ProductTextError(f"liquid strength '{shown}' does not say per how many mL")
        if dose_form in _PER_UNIT_FORMS and strength.basis == "ml":
            raise ProductTextError(f"strength '{shown}' is per mL but the product is a {dose_form}")


def _counted_strength(
    reading: _Reading, vocabulary: Vocabulary, name: str, strength: Strength, dose_form: str, release: Release
) -> Decimal:
    """The strength in the salt the factors are per: as written, except for a product labelled as its
    base where the ingredient's other products are labelled as a salt (``strength_equivalents.csv``)."""
    equivalent = vocabulary.equivalents.get((name, dose_form, release, strength.unit, strength.value))
    if equivalent is None:
        return strength.value
    reading.notes.append(
        f"{name} {strength.value} {strength.unit} is labelled as the base: counted as {equivalent.counted} "
        f"{strength.unit} {name} {equivalent.counted_as}, the salt the factors are per ({equivalent.label})"
    )
    return equivalent.counted


def _film_route(named: set[Route]) -> Route:
    stated = [route for route in _FILM_ROUTES if route in named]
    if len(stated) > 1:
        raise ProductTextError(f"conflicting routes for a film: {' and '.join(r.value for r in stated)}")
    if stated:
        return stated[0]
    if Route.ORAL in named:
        return Route.ORAL
    raise ProductTextError(
        "film: the text does not say buccal or sublingual (the route tells buprenorphine for pain "
        "from treatment of opioid use disorder, so it is not assumed)"
    )


def _route(reading: _Reading, brand: Brand | None, dose_form: str) -> Route:
    named = {word.route for word in reading.forms if word.route}
    if brand and brand.route:
        named.add(brand.route)
    if dose_form == "patch":
        named.add(Route.TRANSDERMAL)
    if dose_form == "film":
        return _film_route(named)
    for route in _ROUTE_PRECEDENCE:
        if route in named:
            return route
    if dose_form == "unspecified":
        reading.notes.append("route not stated: oral assumed")
    return Route.ORAL


def _release(reading: _Reading, brand: Brand | None, dose_form: str) -> Release:
    named = {word.release for word in reading.forms if word.release}
    if dose_form == "patch":
        named.add(Release.EXTENDED)
    elif reading.durations:
        # "12 HR Morphine ... Extended Release": RxNorm marks long-acting oral products by dosing interval.
        named.add(Release.EXTENDED)
    if len(named) > 1:
        raise ProductTextError("conflicting release: the text says both immediate and extended release")
    if not named:
        return brand.release if brand and brand.release else Release.IMMEDIATE
    # What the text says outranks what a brand usually is ("Zamadol 24hr": a brand's long-acting line).
    release = named.pop()
    if brand and brand.release and brand.release is not release:
        reading.notes.append(
            f"text says {release.value}; brand {brand.name} is usually {brand.release.value}"
        )
    return release


def _wear_hours(reading: _Reading, brand: Brand | None, names: list[str], vocabulary: Vocabulary) -> int:
    stated = set(reading.durations) | {word.wear_hours for word in reading.forms if word.wear_hours}
    if len(stated) > 1:
        raise ProductTextError(f"conflicting wear times: {', '.join(f'{h} h' for h in sorted(stated))}")
    wear = stated.pop() if stated else None
    if brand and brand.wear_hours:
        if wear is not None and wear != brand.wear_hours:
            raise ProductTextError(
                f"wear time {wear} h in the text but {brand.name} is worn {brand.wear_hours} h"
            )
        wear = brand.wear_hours
    if wear is None:
        wear = vocabulary.ingredients[names[0]].patch_wear_hours
    if wear is None:
        raise ProductTextError(
            f"no wear time known for a {names[0]} patch: state it (e.g. '72 HR') or add patch_wear_hours "
            "to ingredients.csv"
        )
    return wear
