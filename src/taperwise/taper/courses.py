"""From a regimen item to a drug the engine can taper: product, real strengths, times of day.

The product comes from the item's structured ``product`` or from the knowledge parser reading the product
text (both, when given, must agree); strengths from the request or else the catalogue, for the request's
market. An oral liquid keeps its own concentration and is measured in whole steps of an oral syringe
(rules.json ``liquids``), so its "strength set" is that one measure. Anything the engine cannot handle
safely (buprenorphine, transmucosal fentanyl, other routes, as-needed text) is refused here with the field
named, the reason and what to do instead (rules.json ``refusals``), rather than guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from taperwise.errors import RequestValidationError
from taperwise.knowledge.catalogue import available_strengths, patch_wear_hours
from taperwise.knowledge.model import DrugClass, ParseFailure, Product, Release, Route
from taperwise.knowledge.parser import parse_product
from taperwise.taper.jsonvalues import plain
from taperwise.taper.regimen import AS_NEEDED_TODO, AS_NEEDED_WHY, ProductSpec, RegimenItem
from taperwise.taper.request import TaperRequest
from taperwise.taper.rules import TaperRules
from taperwise.taper.units import StrengthSet

ProductReader = Callable[[str], Product | ParseFailure]

_LONG_ACTING_INGREDIENTS = ("methadone",)  # long half-life even as an immediate-release tablet
_TAPERED_ROUTES = (Route.ORAL.value, Route.TRANSDERMAL.value)
_TRANSMUCOSAL = (Route.BUCCAL, Route.SUBLINGUAL, Route.FILM, Route.ORAL_SPRAY, Route.NASAL)


@dataclass(frozen=True)
class DrugCourse:
    """One drug of the regimen, resolved: what it is, its real strengths and its original doses."""

    index: int
    drug: str
    spec: ProductSpec
    strengths: StrengthSet
    original: tuple[Decimal, ...]  # dose per administration when the taper began
    units_per_box: int | None
    whole_boxes: bool
    increment_ml: Decimal | None = None  # liquids: the measurable step of an oral syringe
    bottle_sizes: tuple[int, ...] = ()  # liquids: marketed bottle sizes (mL), from bottles.csv

    @property
    def is_patch(self) -> bool:
        return self.spec.route == Route.TRANSDERMAL.value

    @property
    def is_liquid(self) -> bool:
        return self.spec.is_liquid

    @property
    def dose_unit(self) -> str:
        return self.spec.dose_unit

    def volume_ml(self, dose: Decimal) -> Decimal:
        """mL of a liquid that hold `dose` mg."""
        if self.spec.concentration is None:
            raise ValueError(f"{self.drug} is not a liquid")
        return dose / self.spec.concentration

    @property
    def long_acting(self) -> bool:
        return self.spec.release == "ER" or self.is_patch or self.spec.ingredient in _LONG_ACTING_INGREDIENTS

    @property
    def original_daily(self) -> Decimal:
        return sum(self.original, Decimal(0))

    def unit_label(self, strength: Decimal) -> str:
        """How one unit is named on the calendar: 'morphine 15 mg ER tablet', 'fentanyl 25 mcg/hr patch'."""
        if self.spec.concentration is not None:
            return f"{self.spec.ingredient} {plain(self.spec.concentration)} mg/mL oral {self.spec.dose_form}"
        release = f" {self.spec.release}" if not self.is_patch else ""
        return f"{self.spec.ingredient} {plain(strength)} {self.spec.unit}{release} {self.spec.dose_form}"

    def describe_units(self) -> str:
        """What every dose must be, for messages: 'whole units of 15, 30, 60 mg' or the liquid's measure."""
        if self.increment_ml is not None and self.spec.concentration is not None:
            return (
                f"a whole number of {plain(self.increment_ml)} mL measures of "
                f"{plain(self.spec.concentration)} mg/mL (steps of {self.strengths.describe()} mg)"
            )
        return f"whole units of {self.strengths.describe()} {self.dose_unit}"


def default_reader() -> ProductReader:
    """The knowledge parser: the one reader of product text in taperwise."""
    return parse_product


def _spec_from_product(product: Product, path: str, rules: TaperRules) -> ProductSpec:
    opioid = product.opioid
    if opioid is None:
        raise RequestValidationError(f"{path}.drug", f"{product.text!r} contains no opioid")
    if opioid.drug_class is DrugClass.BUPRENORPHINE:
        raise RequestValidationError(f"{path}.drug", rules.refusal("buprenorphine"))
    liquid = opioid.unit == "mg/mL"
    return ProductSpec(
        ingredient=opioid.ingredient,
        unit=opioid.unit,
        route=product.route.value,
        release=product.release.value,
        dose_form=product.dose_form,
        wear_hours=product.wear_hours,
        concentration=opioid.strength if liquid else None,
    )


def _check_supported(spec: ProductSpec, path: str, rules: TaperRules) -> None:
    """Refuse what the engine cannot taper safely, saying why and what to do instead."""
    if spec.ingredient == "buprenorphine":
        raise RequestValidationError(f"{path}.drug", rules.refusal("buprenorphine"))
    if spec.route not in _TAPERED_ROUTES:
        kind = "transmucosal_fentanyl"
        if spec.ingredient != "fentanyl" or spec.route not in {r.value for r in _TRANSMUCOSAL}:
            kind = "other_route"
        form = f"{spec.route} {spec.dose_form}".replace("_", " ")
        raise RequestValidationError(f"{path}.drug", rules.refusal(kind, form=form.capitalize()))
    supported = (
        spec.unit == "mcg/hr" if spec.route == Route.TRANSDERMAL.value else spec.unit in ("mg", "mg/mL")
    )
    if not supported:
        raise RequestValidationError(
            f"{path}.drug",
            f"{spec.dose_form} dosed in {spec.unit} is not supported: give a product dosed in mg "
            "(tablets, capsules), mg/mL (oral liquids) or mcg/hr (patches)",
        )


def _refuse_as_needed_text(item: RegimenItem, path: str, rules: TaperRules) -> None:
    words = set(item.drug.lower().replace(",", " ").split())
    text = f" {item.drug.lower()} "
    found = [m for m in rules.as_needed_markers if (m in words if " " not in m else f" {m} " in text)]
    if found:
        raise RequestValidationError(
            f"{path}.drug",
            f"the product text says {found[0]!r}: {AS_NEEDED_WHY}. Write the product without its "
            f'directions, set "as_needed": true and {AS_NEEDED_TODO}',
        )


def _resolve_spec(item: RegimenItem, path: str, read: ProductReader, rules: TaperRules) -> ProductSpec:
    _refuse_as_needed_text(item, path, rules)
    parsed = read(item.drug)
    if isinstance(parsed, ParseFailure):
        if item.product is not None:
            return item.product
        raise RequestValidationError(
            f"{path}.drug",
            f"cannot read the product: {parsed.reason}; write it as an RxNorm or dm+d name "
            "(e.g. 'Oxycodone Hydrochloride 5 MG Oral Tablet') or describe it in 'product'",
        )
    spec = _spec_from_product(parsed, path, rules)
    if item.product is None:
        return spec
    for name in ("ingredient", "unit", "route", "release", "concentration"):
        if getattr(spec, name) != getattr(item.product, name):
            raise RequestValidationError(
                f"{path}.product.{name}",
                f"{getattr(item.product, name)!r} contradicts the product text ({getattr(spec, name)!r})",
            )
    return item.product if item.product.wear_hours is not None else spec


def _liquid_strengths(item: RegimenItem, spec: ProductSpec, path: str, rules: TaperRules) -> Decimal:
    """The one measurable step of a liquid, in mg: its concentration times the syringe increment."""
    concentration = spec.concentration or Decimal(0)
    if item.strengths is not None and item.strengths != (concentration,):
        raise RequestValidationError(
            f"{path}.strengths",
            f"a liquid is measured in mL of its own concentration ({plain(concentration)} mg/mL); "
            "leave 'strengths' out or give just that concentration",
        )
    return concentration * rules.number("liquids", "measure_increment_ml")


def _strengths(item: RegimenItem, spec: ProductSpec, path: str, market: str | None) -> tuple[Decimal, ...]:
    if item.strengths is not None:
        return item.strengths
    try:
        found = available_strengths(
            spec.ingredient, Route(spec.route), Release(spec.release), spec.dose_form, market=market
        )
    except (NotImplementedError, ValueError, LookupError):
        found = ()
    if not found:
        where = f" in the {market} market" if market else ""
        raise RequestValidationError(
            f"{path}.strengths",
            f"no marketed strengths are known for {spec.ingredient} {spec.release} {spec.dose_form}{where}; "
            "list the strengths the patient can get in 'strengths'",
        )
    return tuple(found)


def _wear_hours(spec: ProductSpec, path: str) -> ProductSpec:
    if spec.wear_hours is not None:
        return spec
    try:
        hours = patch_wear_hours(spec.ingredient)
    except (NotImplementedError, LookupError):
        hours = None
    if hours is None:
        raise RequestValidationError(
            f"{path}.product.wear_hours", "how long one patch is worn is unknown; give it"
        )
    return ProductSpec(spec.ingredient, spec.unit, spec.route, spec.release, spec.dose_form, hours)


def resolve_course(
    index: int, item: RegimenItem, rules: TaperRules, read: ProductReader, market: str | None = None
) -> DrugCourse:
    """Resolve and check one regimen item; every refusal names the field to fix."""
    path = f"regimen[{index}]"
    spec = _resolve_spec(item, path, read, rules)
    _check_supported(spec, path, rules)
    if spec.route == Route.TRANSDERMAL.value:
        spec = _wear_hours(spec, path)
        if len(item.doses) != 1:
            raise RequestValidationError(
                f"{path}.doses", "a patch is one application: give one 'dose' in mcg/hr"
            )
    elif len(item.doses) > rules.max_times_per_day:
        raise RequestValidationError(
            f"{path}.times_per_day", f"at most {rules.max_times_per_day} administrations a day are supported"
        )
    liquid = spec.is_liquid
    strengths = (
        (_liquid_strengths(item, spec, path, rules),) if liquid else _strengths(item, spec, path, market)
    )
    pack = rules.pack_for(spec.ingredient, spec.route, spec.dose_form)
    course = DrugCourse(
        index=index,
        drug=item.drug,
        spec=spec,
        strengths=StrengthSet(strengths, max(item.doses)),
        original=item.doses,
        units_per_box=item.units_per_box or (pack.units_per_box if pack else None),
        whole_boxes=pack.whole_boxes if pack else item.units_per_box is not None,
        increment_ml=rules.number("liquids", "measure_increment_ml") if liquid else None,
        bottle_sizes=rules.bottle_sizes(spec.ingredient, spec.concentration, market)
        if spec.concentration is not None
        else (),
    )
    for number, dose in enumerate(item.doses):
        if not course.strengths.achievable(dose):
            field = f"{path}.doses[{number}]" if len(set(item.doses)) > 1 else f"{path}.dose"
            raise RequestValidationError(
                field, f"{plain(dose)} {course.dose_unit} is not {course.describe_units()}"
            )
    return course


def taper_order(request: TaperRequest, courses: Mapping[int, DrugCourse]) -> list[int]:
    """Regimen indexes in taper order: long-acting first (default), short-acting first, as listed, or the
    patient's chosen drug first and then the rest long-acting first."""
    indexes = sorted(courses)
    long_first = sorted(indexes, key=lambda i: (not courses[i].long_acting, i))
    choice = request.first_to_taper
    if choice == "as_listed":
        return indexes
    if choice == "short_acting":
        return sorted(indexes, key=lambda i: (courses[i].long_acting, i))
    if isinstance(choice, int):
        return [choice, *(i for i in long_first if i != choice)]
    return long_first
