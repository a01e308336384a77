"""Drug classes of OMOP drug concepts, and strength overrides from ``drug_strength`` when unambiguous.

The rule (ADR 0005): the concept name is the first authority, because the product parser reads dose form,
route and release from it as well as strength. ``drug_strength`` is used only to fill a gap — a concept
whose name states no opioid strength ("Fentanyl", an ingredient-level concept) — and only when exactly one
opioid ingredient row exists: ``amount_value`` + unit for solids, ``numerator_value`` /
``denominator_value`` for liquids (mg/mL) and patches (mcg/hr). When the name states a strength and
``drug_strength`` disagrees, the row keeps the name's strength and the concept is reported
(``strength_conflict``): a clinician must see the disagreement, not have it silently resolved.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from taperwise.ingest.common import IngestSink
from taperwise.ingest.omop.source import OmopSource
from taperwise.knowledge.model import DrugClass, ParseFailure
from taperwise.knowledge.parser import parse_product
from taperwise.knowledge.vocabulary import load_vocabulary

COUNTED_CLASSES = frozenset({DrugClass.OPIOID, DrugClass.BUPRENORPHINE, DrugClass.BENZODIAZEPINE})
_OPIOID_CLASSES = frozenset({DrugClass.OPIOID, DrugClass.BUPRENORPHINE})
_MASS = {"mg": Decimal(1000), "ug": Decimal(1), "mcg": Decimal(1)}  # in micrograms
_STRENGTH_SQL = """
SELECT ds.drug_concept_id, ing.concept_name, ds.amount_value, au.concept_code, ds.numerator_value,
       nu.concept_code, ds.denominator_value, du.concept_code
FROM drug_strength ds
JOIN (SELECT DISTINCT drug_concept_id FROM drug_exposure) used USING (drug_concept_id)
LEFT JOIN concept ing ON ing.concept_id = ds.ingredient_concept_id
LEFT JOIN concept au ON au.concept_id = ds.amount_unit_concept_id
LEFT JOIN concept nu ON nu.concept_id = ds.numerator_unit_concept_id
LEFT JOIN concept du ON du.concept_id = ds.denominator_unit_concept_id
"""


@dataclass(frozen=True)
class StrengthRow:
    ingredient_name: str
    amount: str | None
    amount_unit: str | None
    numerator: str | None
    numerator_unit: str | None
    denominator: str | None
    denominator_unit: str | None


@lru_cache(maxsize=16384)
def drug_class_of(name: str) -> DrugClass | None:
    """The class deciding how a concept is counted; ingredient-only names ("Fentanyl") are read too."""
    product = parse_product(name)
    if not isinstance(product, ParseFailure):
        return product.drug_class
    vocabulary = load_vocabulary()
    classes = {vocabulary.ingredients[found].drug_class for found in vocabulary.ingredients_in(name)}
    for wanted in (DrugClass.OPIOID, DrugClass.BUPRENORPHINE, DrugClass.BENZODIAZEPINE, DrugClass.OTHER):
        if wanted in classes:
            return wanted
    return None


def _number(text: str | None) -> Decimal | None:
    try:
        return Decimal(text) if text not in (None, "") else None
    except InvalidOperation:
        return None


def canonical_strength(row: StrengthRow) -> tuple[Decimal, str] | None:
    """(value, unit) in the canonical units mg, mcg, mg/mL, mcg/mL or mcg/hr; None if not expressible."""
    amount = _number(row.amount)
    if amount is not None:
        unit = (row.amount_unit or "").lower()
        return (amount, "mcg" if unit in ("ug", "mcg") else "mg") if unit in _MASS else None
    numerator = _number(row.numerator)
    mass = (row.numerator_unit or "").lower()
    per = (row.denominator_unit or "").lower()
    if numerator is None or mass not in _MASS:
        return None
    denominator = _number(row.denominator) or Decimal(1)
    if denominator == 0:
        return None
    value = numerator / denominator
    if per == "ml":
        return (value, "mcg/mL" if mass in ("ug", "mcg") else "mg/mL")
    if per == "h":
        return (value * _MASS[mass], "mcg/hr")
    return None


def _in_micrograms(value: Decimal, unit: str) -> tuple[Decimal, str]:
    mass, _, basis = unit.partition("/")
    return value * _MASS[mass], basis


def strength_overrides(
    source: OmopSource, sink: IngestSink, names: dict[str, str]
) -> dict[str, tuple[str, str]]:
    """drug_concept_id → (strength, strength_unit) for concepts that need and unambiguously have one.

    `names` maps drug concept ids to concept names. Conflicts and ambiguities are reported once per concept.
    """
    if not source.has("drug_strength"):
        return {}
    by_drug: dict[str, list[StrengthRow]] = {}
    for drug_id, ingredient, *values in source.connection.execute(_STRENGTH_SQL).fetchall():
        texts = [None if value is None else str(value) for value in values]
        by_drug.setdefault(str(drug_id), []).append(StrengthRow(str(ingredient or ""), *texts))
    vocabulary = load_vocabulary()
    overrides: dict[str, tuple[str, str]] = {}
    for drug_id, rows in by_drug.items():
        opioid_rows = []
        for row in rows:
            ingredient = vocabulary.ingredient_named(row.ingredient_name or "")
            if ingredient and vocabulary.ingredients[ingredient].drug_class in _OPIOID_CLASSES:
                opioid_rows.append(row)
        if not opioid_rows:
            continue
        record = f"drug_concept_id={drug_id}"
        name = names.get(drug_id, "")
        if len(opioid_rows) > 1:
            sink.report(
                "drug_strength",
                record,
                "ambiguous_drug_strength",
                f"{name!r}: {len(opioid_rows)} opioid ingredient rows; no strength taken from drug_strength",
            )
            continue
        strength = canonical_strength(opioid_rows[0])
        product = parse_product(name)
        named = None if isinstance(product, ParseFailure) else product.opioid
        if named is not None:
            if strength is not None and _in_micrograms(*strength) != _in_micrograms(
                named.strength, named.unit
            ):
                sink.report(
                    "drug_strength",
                    record,
                    "strength_conflict",
                    f"{name!r} states {named.strength} {named.unit}; drug_strength gives "
                    f"{format(strength[0].normalize(), 'f')} {strength[1]}; the name's strength is kept",
                )
            continue
        if strength is None:
            sink.report(
                "drug_strength",
                record,
                "unusable_drug_strength",
                f"{name!r}: drug_strength units cannot be read as mg, mcg, mg/mL or mcg/hr",
            )
            continue
        overrides[drug_id] = (format(strength[0].normalize(), "f"), strength[1])
    return overrides
