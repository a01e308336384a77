"""MME of one daily dose of one ingredient: the scalar face of the exposure engine.

The row-wise engine (`taperwise.exposure.mme`) builds its expression from the same factor rows and the
same unit conversions defined here, and a test checks that both agree row by row. The taper engine uses
this function for a plan's ``daily_mme``; MME is never used to convert one opioid into another.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from taperwise.knowledge.factors import DEFAULT_FACTOR_SET, Factor, load_factor_set
from taperwise.knowledge.model import DrugClass, factor_route
from taperwise.knowledge.vocabulary import load_vocabulary

# Amount of an ingredient per day, expressed in the unit a factor multiplies. Liquids are dosed in mL
# but their strength is per mL, so the daily amount is already in mg or mcg by the time it arrives here.
AMOUNT_TO_FACTOR_UNIT: dict[tuple[str, str], Decimal] = {
    ("mg", "mg"): Decimal(1),
    ("mcg", "mcg"): Decimal(1),
    ("mg", "mcg"): Decimal(1000),
    ("mcg", "mg"): Decimal("0.001"),
    ("mcg/hr", "mcg/hr"): Decimal(1),
    ("mg/hr", "mcg/hr"): Decimal(1000),
}

MME_DECIMALS = 4  # daily MME is held as DECIMAL(18, 4): exact sums on every engine
# One rounding rule on every path: half away from zero, as SQL ROUND does on DuckDB and Spark.
MME_ROUNDING = ROUND_HALF_UP


def unit_multiplier(amount_unit: str, factor_unit: str) -> Decimal | None:
    """How many factor units one amount unit is; None when the units cannot be compared."""
    return AMOUNT_TO_FACTOR_UNIT.get((amount_unit, factor_unit))


@dataclass(frozen=True)
class DoseMme:
    """The MME of a daily dose, with the factor used and where it came from."""

    daily_mme: Decimal
    factor: Factor
    factor_source: str


class NoFactorError(LookupError):
    """The factor set has no factor for this ingredient, route and dose (reported, never guessed)."""


class NotCountedError(NoFactorError):
    """The factor set does not count this product at all (buprenorphine, except patches under a UK set)."""


def daily_mme(
    ingredient: str,
    route: str,
    daily_amount: Decimal,
    amount_unit: str,
    factor_set: str = DEFAULT_FACTOR_SET,
    dose_form: str | None = None,
) -> DoseMme:
    """MME/day of `daily_amount` (mg, mcg, or mcg/hr worn for patches) of one ingredient.

    The factor is looked up by the product's factor route (`factor_route`): its `route`, except that a
    film (`dose_form` ``film``) has the factor tables' own ``film`` rows, as in the engine.

    Buprenorphine raises `NotCountedError` unless the set counts it by `route` (patches under the UK
    sets), as the engine marks it ``excluded``.

    >>> daily_mme("oxycodone", "oral", Decimal(20), "mg").daily_mme
    Decimal('30.0000')
    >>> daily_mme("fentanyl", "transdermal", Decimal(25), "mcg/hr").daily_mme
    Decimal('60.0000')
    """
    fs = load_factor_set(factor_set)
    known = load_vocabulary().ingredients.get(ingredient)
    buprenorphine = known is not None and known.drug_class is DrugClass.BUPRENORPHINE
    if buprenorphine and not fs.counts_buprenorphine(route):
        raise NotCountedError(fs.buprenorphine_exclusion(route))
    key = factor_route(route, dose_form)
    for candidate in fs.candidates(ingredient, key):
        multiplier = unit_multiplier(amount_unit, candidate.unit)
        if multiplier is None:
            continue
        amount = daily_amount * multiplier
        if candidate.covers(amount):
            value = (amount * candidate.factor).quantize(
                Decimal(1).scaleb(-MME_DECIMALS), rounding=MME_ROUNDING
            )
            return DoseMme(value, candidate, fs.citation(candidate))
    raise NoFactorError(
        f"factor set {factor_set} has no factor for {ingredient} ({key}, {daily_amount} {amount_unit}/day)"
    )
