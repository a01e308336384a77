"""From a regimen item to a drug the engine can taper: product, real strengths, times of day.

The product comes from the item's structured ``product`` or from the knowledge parser reading the product
text (both, when given, must agree); strengths from the request or else the catalogue. Anything the engine
cannot handle safely is refused here with the field named, rather than guessed.
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
from taperwise.taper.request import ProductSpec, RegimenItem, TaperRequest
from taperwise.taper.rules import TaperRules
from taperwise.taper.units import StrengthSet

ProductReader = Callable[[str], Product | ParseFailure]

_LONG_ACTING_INGREDIENTS = ("methadone",)  # long half-life even as an immediate-release tablet


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

    @property
    def is_patch(self) -> bool:
        return self.spec.route == Route.TRANSDERMAL.value

    @property
    def long_acting(self) -> bool:
        return self.spec.release == "ER" or self.is_patch or self.spec.ingredient in _LONG_ACTING_INGREDIENTS

    @property
    def original_daily(self) -> Decimal:
        return sum(self.original, Decimal(0))

    def unit_label(self, strength: Decimal) -> str:
        """How one unit is named on the calendar: 'morphine 15 mg ER tablet', 'fentanyl 25 mcg/hr patch'."""
        release = f" {self.spec.release}" if not self.is_patch else ""
        return f"{self.spec.ingredient} {plain(strength)} {self.spec.unit}{release} {self.spec.dose_form}"


def default_reader() -> ProductReader:
    """The knowledge parser: the one reader of product text in taperwise."""
    return parse_product


def _spec_from_product(product: Product, path: str) -> ProductSpec:
    opioid = product.opioid
    if opioid is None:
        raise RequestValidationError(f"{path}.drug", f"{product.text!r} contains no opioid")
    if opioid.drug_class is DrugClass.BUPRENORPHINE:
        raise RequestValidationError(
            f"{path}.drug",
            "buprenorphine is not tapered with MME by this engine (it may be the route to treatment); "
            "plan it with a specialist",
        )
    return ProductSpec(
        ingredient=opioid.ingredient,
        unit=opioid.unit,
        route=product.route.value,
        release=product.release.value,
        dose_form=product.dose_form,
        wear_hours=product.wear_hours,
    )


def _resolve_spec(item: RegimenItem, path: str, read: ProductReader) -> ProductSpec:
    parsed = read(item.drug)
    if isinstance(parsed, ParseFailure):
        if item.product is not None:
            return item.product
        raise RequestValidationError(f"{path}.drug", f"cannot read the product: {parsed.reason}")
    spec = _spec_from_product(parsed, path)
    if item.product is None:
        return spec
    for name in ("ingredient", "unit", "route", "release"):
        if getattr(spec, name) != getattr(item.product, name):
            raise RequestValidationError(
                f"{path}.product.{name}",
                f"{getattr(item.product, name)!r} contradicts the product text ({getattr(spec, name)!r})",
            )
    return item.product if item.product.wear_hours is not None else spec


def _strengths(item: RegimenItem, spec: ProductSpec, path: str) -> tuple[Decimal, ...]:
    if item.strengths is not None:
        return item.strengths
    try:
        found = available_strengths(spec.ingredient, Route(spec.route), Release(spec.release), spec.dose_form)
    except (NotImplementedError, ValueError, LookupError):
        found = ()
    if not found:
        raise RequestValidationError(
            f"{path}.strengths",
            f"no marketed strengths are known for {spec.ingredient} {spec.dose_form}; list them",
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


def resolve_course(index: int, item: RegimenItem, rules: TaperRules, read: ProductReader) -> DrugCourse:
    """Resolve and check one regimen item; every refusal names the field to fix."""
    path = f"regimen[{index}]"
    spec = _resolve_spec(item, path, read)
    patch = spec.route == Route.TRANSDERMAL.value
    if patch:
        spec = _wear_hours(spec, path)
        if len(item.doses) != 1:
            raise RequestValidationError(
                f"{path}.doses", "a patch is one application: give one 'dose' in mcg/hr"
            )
    elif spec.unit != "mg":
        raise RequestValidationError(
            f"{path}.drug", f"{spec.dose_form} dosed in {spec.unit} is not supported"
        )
    elif len(item.doses) > rules.max_times_per_day:
        raise RequestValidationError(
            f"{path}.times_per_day", f"at most {rules.max_times_per_day} administrations a day are supported"
        )
    strengths = _strengths(item, spec, path)
    units = StrengthSet(strengths, max(item.doses))
    for number, dose in enumerate(item.doses):
        if not units.achievable(dose):
            field = f"{path}.doses[{number}]" if len(set(item.doses)) > 1 else f"{path}.dose"
            raise RequestValidationError(
                field,
                f"{plain(dose)} {spec.unit} is not whole units of {units.describe()} {spec.unit}",
            )
    pack = rules.pack_for(spec.ingredient, spec.route, spec.dose_form)
    return DrugCourse(
        index=index,
        drug=item.drug,
        spec=spec,
        strengths=units,
        original=item.doses,
        units_per_box=item.units_per_box or (pack.units_per_box if pack else None),
        whole_boxes=pack.whole_boxes if pack else item.units_per_box is not None,
    )


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
