"""From a regimen item to the product it is and the strengths it comes in, or a refusal saying why.

The product comes from the item's structured ``product`` or from the knowledge parser reading the product
text (both, when given, must agree); strengths from the request or else the catalogue, for the request's
market. A combination product (co-codamol, hydrocodone/acetaminophen) stays that product: its strengths
are its own product line's, each with the partner strength it carries, never a plain opioid's. An oral
liquid keeps its own concentration and is measured in whole steps of an oral syringe (rules.json
``liquids``). Anything the engine cannot handle safely (buprenorphine, transmucosal fentanyl, other routes,
as-needed text, combination liquids) is refused with the field named, the reason and what to do instead
(rules.json ``refusals``), rather than guessed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal

from taperwise.errors import RequestValidationError
from taperwise.knowledge.catalogue import available_strengths, combination_line, patch_wear_hours
from taperwise.knowledge.model import DrugClass, ParseFailure, Product, Release, Route
from taperwise.knowledge.parser import parse_product
from taperwise.taper.jsonvalues import plain
from taperwise.taper.regimen import AS_NEEDED_TODO, AS_NEEDED_WHY, Partner, ProductSpec, RegimenItem
from taperwise.taper.rules import TaperRules

ProductReader = Callable[[str], Product | ParseFailure]

_TAPERED_ROUTES = (Route.ORAL.value, Route.TRANSDERMAL.value)
_TRANSMUCOSAL = (Route.BUCCAL, Route.SUBLINGUAL, Route.ORAL_SPRAY, Route.NASAL)


@dataclass(frozen=True)
class Strengths:
    """The strengths a drug is tapered in, each with the partner(s) one unit carries (combinations), and
    which of the request's own strengths the catalogue does not know as marketed."""

    values: tuple[Decimal, ...]
    partners: dict[Decimal, tuple[Partner, ...]]
    given: bool  # from the request's `strengths`, not the catalogue
    unmarketed: tuple[Decimal, ...] = ()


def default_reader() -> ProductReader:
    """The knowledge parser: the one reader of product text in taperwise."""
    return parse_product


def resolve_spec(item: RegimenItem, path: str, read: ProductReader, rules: TaperRules) -> ProductSpec:
    """The product of one regimen item, checked as taperable; every refusal names the field."""
    spec = _read_spec(item, path, read, rules)
    _check_supported(spec, path, rules)
    if spec.route == Route.TRANSDERMAL.value:
        spec = _wear_hours(spec, path)
    return spec


def _spec_from_product(product: Product, path: str, rules: TaperRules) -> ProductSpec:
    opioid = product.opioid
    if opioid is None:
        raise RequestValidationError(f"{path}.drug", f"{product.text!r} contains no opioid")
    if opioid.drug_class is DrugClass.BUPRENORPHINE:
        raise RequestValidationError(f"{path}.drug", rules.refusal("buprenorphine"))
    others = [item for item in product.ingredients if item is not opioid]
    if any(item.unit != "mg" for item in others):
        raise RequestValidationError(f"{path}.drug", rules.refusal("combination_liquid"))
    liquid = opioid.unit == "mg/mL"
    return ProductSpec(
        ingredient=opioid.ingredient,
        unit=opioid.unit,
        route=product.route.value,
        release=product.release.value,
        dose_form=product.dose_form,
        wear_hours=product.wear_hours,
        concentration=opioid.strength if liquid else None,
        unit_strength=None if liquid else opioid.strength,
        partners=tuple(
            sorted((Partner(i.ingredient, i.strength, i.unit) for i in others), key=lambda p: p.ingredient)
        ),
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
    if spec.partners and (spec.is_liquid or spec.route != Route.ORAL.value):
        raise RequestValidationError(f"{path}.drug", rules.refusal("combination_liquid"))


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


def _read_spec(item: RegimenItem, path: str, read: ProductReader, rules: TaperRules) -> ProductSpec:
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
    for name in ("ingredient", "unit", "route", "release", "concentration", "partners"):
        if getattr(spec, name) != getattr(item.product, name):
            raise RequestValidationError(
                f"{path}.product.{name}",
                f"{_shown(getattr(item.product, name))} contradicts the product text "
                f"({_shown(getattr(spec, name))})",
            )
    return item.product if item.product.wear_hours is not None else spec


def _shown(value: object) -> str:
    if isinstance(value, tuple):
        return " + ".join(f"{p.ingredient} {plain(p.strength)} {p.unit}" for p in value) or "no partner"
    return repr(value)


def strengths_for(
    item: RegimenItem, spec: ProductSpec, path: str, rules: TaperRules, market: str | None
) -> Strengths:
    """The strengths to taper in: a liquid's one measure, the request's own list (checked against what
    is marketed), or the catalogue's for the market (a combination's own product line)."""
    if spec.is_liquid:
        return Strengths((_liquid_measure(item, spec, path, rules),), {}, False)
    marketed = _marketed(spec, market)
    if item.strengths is not None:
        unmarketed = tuple(s for s in item.strengths if s not in marketed)
        partners = {s: marketed.get(s, spec.partners) for s in item.strengths}
        return Strengths(item.strengths, partners, True, unmarketed)
    if not marketed:
        where = f" in the {market} market" if market else ""
        with_partner = "".join(f" / {p.ingredient} {plain(p.strength)} mg" for p in spec.partners)
        raise RequestValidationError(
            f"{path}.strengths",
            f"no marketed strengths are known for {spec.ingredient}{with_partner} {spec.release} "
            f"{spec.dose_form}{where}; list the strengths the patient can get in 'strengths'",
        )
    return Strengths(tuple(sorted(marketed)), marketed, False)


def _marketed(spec: ProductSpec, market: str | None) -> dict[Decimal, tuple[Partner, ...]]:
    """Marketed strengths of this very product (for a combination, its own line) -> partners per unit."""
    try:
        route, release = Route(spec.route), Release(spec.release)
    except ValueError:
        return {}
    if not spec.partners:
        found = available_strengths(spec.ingredient, route, release, spec.dose_form, market=market)
        return dict.fromkeys(found, ())
    # the line is found from one unit of the product the patient takes
    strength = spec.unit_strength
    pairs = tuple((p.ingredient, p.strength) for p in spec.partners)
    line = combination_line(spec.ingredient, route, release, spec.dose_form, pairs, strength, market)
    return {
        value: tuple(
            Partner(p.ingredient, amount, p.unit) for p, amount in zip(spec.partners, amounts, strict=True)
        )
        for value, amounts in line.items()
    }


def _liquid_measure(item: RegimenItem, spec: ProductSpec, path: str, rules: TaperRules) -> Decimal:
    """The one measurable step of a liquid, in mg: its concentration times the syringe increment."""
    concentration = spec.concentration or Decimal(0)
    if item.strengths is not None and item.strengths != (concentration,):
        raise RequestValidationError(
            f"{path}.strengths",
            f"a liquid is measured in mL of its own concentration ({plain(concentration)} mg/mL); "
            "leave 'strengths' out or give just that concentration",
        )
    return concentration * rules.number("liquids", "measure_increment_ml")


def _wear_hours(spec: ProductSpec, path: str) -> ProductSpec:
    if spec.wear_hours is not None:
        return spec
    hours = patch_wear_hours(spec.ingredient)
    if hours is None:
        raise RequestValidationError(
            f"{path}.product.wear_hours", "how long one patch is worn is unknown; give it"
        )
    return replace(spec, wear_hours=hours)
