"""The words taperwise knows in product texts, loaded from ``data/*.csv`` with their sources.

Every ingredient, synonym, salt, brand and dose-form word lives in a CSV beside this module, so a data
manager can add one (with its source) without touching code; the parser only knows grammar. A phrase
may mean one thing only: a phrase listed twice is a load error, because a silent precedence between
files would be a guess about the product.

Files (all UTF-8, one header row, every row names a ``source_id`` from ``sources.csv``):

- ``ingredients.csv`` — canonical lower-case base name, drug class, default patch wear time, preferred
  solid unit, and whether the ingredient makes an opioid product a cough/cold combination.
- ``synonyms.csv`` — other names for an ingredient (paracetamol, APAP, pethidine).
- ``salts.csv`` — salt words dropped after an ingredient name (hydrochloride, HCl, sulfate).
- ``brands.csv`` — brands and compound names (co-codamol) with their ingredients *in the order their
  strengths are written*, and the form, route, release and wear time the name implies.
- ``forms.csv`` — dose-form, route and release words, wear-time phrases, and harmless filler words.
- ``strength_equivalents.csv`` — the few products labelled as their base where the ingredient's
  factor (and every other product of it) is per mg of a salt: Xtampza ER's 9 mg oxycodone is 10 mg
  oxycodone hydrochloride. Salt words are otherwise dropped, because a label's strength is of the salt
  the factors are per.

An unknown word is never taken for a known one; `Vocabulary.near_misses` names the known phrases it is
close to, so the reason for a failure can say "did you mean oxycodone?".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import TypeVar

from taperwise.errors import KnowledgeError
from taperwise.knowledge.factors import load_sources, read_data_csv
from taperwise.knowledge.model import DrugClass, Release, Route

_DATA = resources.files("taperwise.knowledge") / "data"
_WORDS = re.compile(r"[a-z]+")
_PHRASE_CHARS = re.compile(r"[a-z \-]+")
_E = TypeVar("_E", Route, Release, DrugClass)

# Units are physics, not knowledge: they are fixed here rather than in a data file.
MASS_UNITS = {"mg": "mg", "mgs": "mg", "milligram": "mg", "milligrams": "mg", "mcg": "mcg",
              "mcgs": "mcg", "microgram": "mcg", "micrograms": "mcg", "ug": "mcg", "g": "g",
              "gm": "g", "gram": "g", "grams": "g"}  # fmt: skip
VOLUME_UNITS = {"ml": "ml", "mls": "ml", "millilitre": "ml", "millilitres": "ml", "milliliter": "ml",
                "milliliters": "ml"}  # fmt: skip
TIME_UNITS = {"hr": "hr", "hrs": "hr", "hour": "hr", "hours": "hr", "h": "hr", "day": "day",
              "days": "day"}  # fmt: skip
# "per actuation", "per dose", "per spray": the strength is per unit administered.
PER_UNIT_WORDS = frozenset({"actuat", "actuation", "actuations", "dose", "doses", "spray", "sprays", "unt"})
UNIT_WORDS = {**MASS_UNITS, **VOLUME_UNITS, **TIME_UNITS, **dict.fromkeys(PER_UNIT_WORDS, "unit")}


class TermKind(StrEnum):
    INGREDIENT = "ingredient"
    SALT = "salt"
    BRAND = "brand"
    FORM = "form"


@dataclass(frozen=True)
class Ingredient:
    name: str
    drug_class: DrugClass
    patch_wear_hours: int | None
    preferred_unit: str | None  # fentanyl: "mcg", because its non-patch factors are per microgram
    cough_cold_partner: bool
    source_id: str


@dataclass(frozen=True)
class Brand:
    name: str  # as printed: "OxyContin"
    ingredients: tuple[str, ...]  # in the order the product's strengths are written
    dose_form: str | None
    route: Route | None
    release: Release | None
    wear_hours: int | None
    generic_name: bool  # co-codamol and friends: a non-proprietary compound name, not a brand
    markets: tuple[str, ...]
    source_id: str


@dataclass(frozen=True)
class FormWord:
    dose_form: str | None
    route: Route | None
    release: Release | None
    wear_hours: int | None
    cough_cold: bool


@dataclass(frozen=True)
class Term:
    kind: TermKind
    phrase: str
    ingredient: str | None = None
    brand: Brand | None = None
    form: FormWord | None = None


@dataclass(frozen=True)
class Equivalent:
    """A strength labelled as the base, and the same amount as the salt the factors are per."""

    counted: Decimal
    counted_as: str  # the salt: "hydrochloride"
    label: str  # where the equivalence is stated, shown in the product's note
    source_id: str


EquivalentKey = tuple[str, str, Release, str, Decimal]  # ingredient, dose form, release, unit, written


@dataclass(frozen=True)
class Vocabulary:
    ingredients: dict[str, Ingredient]
    terms: dict[tuple[str, ...], Term]
    longest: int  # words in the longest phrase: bounds the look-ahead of phrase matching
    equivalents: dict[EquivalentKey, Equivalent]

    def near_misses(self, word: str, kinds: tuple[TermKind, ...]) -> list[str]:
        """Known one-word phrases of these kinds within a small edit distance of `word`, closest first
        (at most three): what an unknown word was probably meant to be. Never used to read a text."""
        typed = word.lower()
        limit = 2 if len(typed) >= 5 else 1 if len(typed) >= 3 else 0
        found: dict[str, int] = {}
        for key, term in self.terms.items():
            if len(key) != 1 or term.kind not in kinds or abs(len(key[0]) - len(typed)) > limit:
                continue
            distance = edit_distance(typed, key[0], limit)
            if 0 < distance <= limit:
                shown = term.brand.name if term.brand is not None else key[0]
                found[shown] = min(distance, found.get(shown, distance))
        return sorted(found, key=lambda name: (found[name], name))[:3]

    def match(self, words: list[str], start: int) -> tuple[Term, int] | None:
        """The longest known phrase starting at ``words[start]`` and the number of words it spans."""
        for length in range(min(self.longest, len(words) - start), 0, -1):
            term = self.terms.get(tuple(words[start : start + length]))
            if term is not None:
                return term, length
        return None

    def ingredients_in(self, text: str) -> list[str]:
        """Every ingredient named anywhere in free text, in order (unknown words are passed over)."""
        words = list(phrase_key(text))
        found: list[str] = []
        position = 0
        while position < len(words):
            hit = self.match(words, position)
            if hit is None:
                position += 1
                continue
            term, length = hit
            if term.kind is TermKind.INGREDIENT and term.ingredient is not None:
                found.append(term.ingredient)
            position += length
        return found

    def ingredient_named(self, text: str) -> str | None:
        """Canonical ingredient for a bare name ('Oxycodone Hydrochloride' -> 'oxycodone'), else None."""
        words = _WORDS.findall(text.lower())
        found: list[str] = []
        position = 0
        while position < len(words):
            hit = self.match(words, position)
            if hit is None:
                return None
            term, length = hit
            if term.kind is TermKind.INGREDIENT and term.ingredient is not None:
                found.append(term.ingredient)
            elif term.kind is not TermKind.SALT:
                return None
            position += length
        return found[0] if len(found) == 1 else None


def edit_distance(first: str, second: str, limit: int) -> int:
    """Levenshtein distance between two words, or ``limit + 1`` as soon as it must exceed `limit`."""
    previous = list(range(len(second) + 1))
    for i, char in enumerate(first, start=1):
        current = [i]
        for j, other in enumerate(second, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char != other)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def phrase_key(phrase: str) -> tuple[str, ...]:
    """Words of a phrase as the parser sees them: lower case, hyphens and spaces both separate."""
    return tuple(_WORDS.findall(phrase.lower()))


def _rows(name: str, required: tuple[str, ...]) -> list[dict[str, str]]:
    path: Traversable = _DATA / name
    reader = read_data_csv(path)
    missing = [column for column in required if column not in (reader.fieldnames or [])]
    if missing:
        raise KnowledgeError(f"knowledge/data/{name}: missing column(s) {', '.join(missing)}")
    rows = list(reader)
    sources = load_sources()
    for number, row in enumerate(rows, start=2):
        if row["source_id"] not in sources:
            raise KnowledgeError(
                f"knowledge/data/{name}, line {number}: source {row['source_id']!r} is not in sources.csv"
            )
    return rows


def _int(value: str, where: str) -> int | None:
    if not value.strip():
        return None
    if not value.strip().isdigit():
        raise KnowledgeError(f"{where}: {value!r} is not a whole number of hours")
    return int(value)


def _enum(kind: type[_E], value: str, where: str) -> _E | None:
    if not value.strip():
        return None
    try:
        return kind(value.strip())
    except ValueError as exc:
        known = ", ".join(member.value for member in kind)
        raise KnowledgeError(f"{where}: {value!r} is not one of {known}") from exc


class _Builder:
    def __init__(self) -> None:
        self.terms: dict[tuple[str, ...], Term] = {}

    def add(self, phrase: str, term: Term, where: str) -> None:
        if not _PHRASE_CHARS.fullmatch(phrase.lower()):
            raise KnowledgeError(f"{where}: phrase {phrase!r} may hold only letters, spaces and hyphens")
        key = phrase_key(phrase)
        if len(key) == 1 and key[0] in UNIT_WORDS and key[0] not in PER_UNIT_WORDS:
            raise KnowledgeError(f"{where}: {phrase!r} is a unit word and cannot be a term")
        if key in self.terms:
            raise KnowledgeError(f"{where}: phrase {phrase!r} is already defined as {self.terms[key].kind}")
        self.terms[key] = term


def _ingredients(builder: _Builder) -> dict[str, Ingredient]:
    ingredients: dict[str, Ingredient] = {}
    for number, row in enumerate(_rows("ingredients.csv", ("ingredient", "drug_class")), start=2):
        where = f"ingredients.csv, line {number}"
        drug_class = _enum(DrugClass, row["drug_class"], where)
        if drug_class is None:
            raise KnowledgeError(f"{where}: drug_class is required")
        item = Ingredient(
            name=row["ingredient"].strip().lower(),
            drug_class=drug_class,
            patch_wear_hours=_int(row["patch_wear_hours"], where),
            preferred_unit=row["preferred_unit"].strip() or None,
            cough_cold_partner=row["cough_cold_partner"].strip().lower() == "yes",
            source_id=row["source_id"],
        )
        ingredients[item.name] = item
        builder.add(item.name, Term(TermKind.INGREDIENT, item.name, ingredient=item.name), where)
    for number, row in enumerate(_rows("synonyms.csv", ("term", "ingredient")), start=2):
        where = f"synonyms.csv, line {number}"
        if row["ingredient"] not in ingredients:
            raise KnowledgeError(f"{where}: {row['ingredient']!r} is not in ingredients.csv")
        builder.add(row["term"], Term(TermKind.INGREDIENT, row["term"], ingredient=row["ingredient"]), where)
    for number, row in enumerate(_rows("salts.csv", ("term",)), start=2):
        builder.add(row["term"], Term(TermKind.SALT, row["term"]), f"salts.csv, line {number}")
    return ingredients


def _brands(builder: _Builder, ingredients: dict[str, Ingredient]) -> None:
    for number, row in enumerate(_rows("brands.csv", ("name", "ingredients", "markets")), start=2):
        where = f"brands.csv, line {number}"
        names = tuple(name.strip() for name in row["ingredients"].split(";") if name.strip())
        unknown = [name for name in names if name not in ingredients]
        if not names or unknown:
            raise KnowledgeError(f"{where}: ingredient(s) {unknown or names} not in ingredients.csv")
        brand = Brand(
            name=row["name"].strip(),
            ingredients=names,
            dose_form=row["dose_form"].strip() or None,
            route=_enum(Route, row["route"], where),
            release=_enum(Release, row["release"], where),
            wear_hours=_int(row["wear_hours"], where),
            generic_name=row["generic_name"].strip().lower() == "yes",
            markets=tuple(market.strip() for market in row["markets"].split(";") if market.strip()),
            source_id=row["source_id"],
        )
        builder.add(brand.name, Term(TermKind.BRAND, brand.name, brand=brand), where)


def _forms(builder: _Builder) -> None:
    for number, row in enumerate(_rows("forms.csv", ("term", "dose_form", "route", "release")), start=2):
        where = f"forms.csv, line {number}"
        word = FormWord(
            dose_form=row["dose_form"].strip() or None,
            route=_enum(Route, row["route"], where),
            release=_enum(Release, row["release"], where),
            wear_hours=_int(row["wear_hours"], where),
            cough_cold=row["cough_cold"].strip().lower() == "yes",
        )
        builder.add(row["term"], Term(TermKind.FORM, row["term"], form=word), where)


def _decimal(value: str, where: str) -> Decimal:
    try:
        number = Decimal(value.strip())
    except InvalidOperation as exc:
        raise KnowledgeError(f"{where}: {value!r} is not a number") from exc
    if not number.is_finite() or number <= 0:
        raise KnowledgeError(f"{where}: {value!r} must be a number above zero")
    return number


def _equivalents(ingredients: dict[str, Ingredient]) -> dict[EquivalentKey, Equivalent]:
    required = ("ingredient", "dose_form", "release", "unit", "written", "counted", "counted_as", "label")
    found: dict[EquivalentKey, Equivalent] = {}
    for number, row in enumerate(_rows("strength_equivalents.csv", required), start=2):
        where = f"strength_equivalents.csv, line {number}"
        if row["ingredient"] not in ingredients:
            raise KnowledgeError(f"{where}: {row['ingredient']!r} is not in ingredients.csv")
        release = _enum(Release, row["release"], where)
        if release is None:
            raise KnowledgeError(f"{where}: release is required")
        key = (row["ingredient"], row["dose_form"], release, row["unit"], _decimal(row["written"], where))
        if key in found:
            raise KnowledgeError(f"{where}: {row['written']} {row['unit']} is listed twice")
        found[key] = Equivalent(
            _decimal(row["counted"], where), row["counted_as"].strip(), row["label"].strip(), row["source_id"]
        )
    return found


@cache
def load_vocabulary() -> Vocabulary:
    """Load and cross-check every vocabulary file; raises KnowledgeError naming the file and line."""
    builder = _Builder()
    ingredients = _ingredients(builder)
    _brands(builder, ingredients)
    _forms(builder)
    longest = max(len(key) for key in builder.terms)
    return Vocabulary(
        ingredients=ingredients, terms=builder.terms, longest=longest, equivalents=_equivalents(ingredients)
    )
