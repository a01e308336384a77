"""From a regimen item to a drug the engine can taper: product, real strengths, times of day.

The product and its strengths come from `taper.products` (a combination keeps its own product line); this
module adds the doses the patient takes now, the simple-regimen limits of each dose (rules.json
``simple_regimens``), packs and bottles, and the order in which the drugs are tapered.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from taperwise.errors import RequestValidationError
from taperwise.knowledge.model import Route
from taperwise.taper.jsonvalues import plain
from taperwise.taper.products import ProductReader, default_reader, resolve_spec, strengths_for
from taperwise.taper.regimen import Partner, ProductSpec, RegimenItem
from taperwise.taper.request import PatientFactors, TaperRequest
from taperwise.taper.rules import TaperRules
from taperwise.taper.units import StrengthSet

__all__ = ["DrugCourse", "ProductReader", "default_reader", "resolve_course", "taper_order"]

_LONG_ACTING_INGREDIENTS = ("methadone",)  # long half-life even as an immediate-release tablet
_MAX_TABLE = 50_000  # doses x decimal scale a strength table may hold (a plausibility bound)
_MAX_COMBINATIONS = 20_000  # simple doses to enumerate for one drug (a plausibility bound)


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
    partners: dict[Decimal, tuple[Partner, ...]] = field(default_factory=dict)  # per unit of a strength
    partner_names: dict[str, str] = field(default_factory=dict)  # acetaminophen -> paracetamol (UK)
    strengths_given: bool = False  # the request listed the strengths (else the catalogue did)
    unmarketed: tuple[Decimal, ...] = ()  # requested strengths the catalogue does not know as marketed
    assumed_units: tuple[Decimal, ...] = ()  # doses not whole units of the product as named: made up
    partner_limit: Decimal | None = None  # this patient's maximum daily partner (paracetamol), in mg

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

    @property
    def is_combination(self) -> bool:
        return bool(self.spec.partners)

    def partner_name(self, ingredient: str) -> str:
        return self.partner_names.get(ingredient, ingredient)

    def unit_partners(self, strength: Decimal) -> tuple[Partner, ...]:
        """The partner(s) one unit of `strength` carries (the paracetamol in a co-codamol tablet)."""
        return self.partners.get(strength, ())

    def partner_in(self, doses: tuple[Decimal, ...] | list[Decimal]) -> Decimal:
        """mg of partner (all partners together) in these doses, as they are made up."""
        return sum(
            (
                p.strength * u.count
                for dose in doses
                for u in self.strengths.units(dose)
                for p in self.unit_partners(u.strength)
            ),
            Decimal(0),
        )

    def unit_label(self, strength: Decimal) -> str:
        """How one unit is named on the calendar: 'morphine 15 mg ER tablet', 'fentanyl 25 mcg/hr patch',
        'codeine 30 mg / paracetamol 500 mg IR tablet'."""
        if self.spec.concentration is not None:
            return f"{self.spec.ingredient} {plain(self.spec.concentration)} mg/mL oral {self.spec.dose_form}"
        release = f" {self.spec.release}" if not self.is_patch else ""
        partners = "".join(
            f" / {self.partner_name(p.ingredient)} {plain(p.strength)} {p.unit}"
            for p in self.unit_partners(strength)
        )
        opioid = f"{self.spec.ingredient} {plain(strength)} {self.spec.unit}"
        return f"{opioid}{partners}{release} {self.spec.dose_form}"

    def describe_units(self) -> str:
        """What every dose must be, for messages: 'whole units of 15, 30, 60 mg' or the liquid's measure."""
        if self.increment_ml is not None and self.spec.concentration is not None:
            return (
                f"a whole number of {plain(self.increment_ml)} mL measures of "
                f"{plain(self.spec.concentration)} mg/mL (steps of {self.strengths.describe()} mg)"
            )
        return f"whole units of {self.strengths.describe()} {self.dose_unit}"


def resolve_course(
    index: int,
    item: RegimenItem,
    rules: TaperRules,
    read: ProductReader,
    market: str | None = None,
    factors: PatientFactors | None = None,
) -> DrugCourse:
    """Resolve and check one regimen item; every refusal names the field to fix. `factors` set this
    patient's maximum daily paracetamol for a combination."""
    path = f"regimen[{index}]"
    spec = resolve_spec(item, path, read, rules)
    _check_doses(item, spec, path, rules)
    strengths = strengths_for(item, spec, path, rules, market)
    pack = rules.pack_for(spec.ingredient, spec.route, spec.dose_form)
    strength_set = _strength_set(item, spec, strengths.values, path, rules)
    named = spec.unit_strength
    # the doses the patient takes are made of the product as named (two 15/500 tablets stay two)
    assumed = tuple(
        dose for dose in sorted(set(item.doses)) if named is not None and not strength_set.keep(dose, named)
    )
    course = DrugCourse(
        index=index,
        drug=item.drug,
        spec=spec,
        strengths=strength_set,
        original=item.doses,
        units_per_box=item.units_per_box or (pack.units_per_box if pack else None),
        whole_boxes=pack.whole_boxes if pack else item.units_per_box is not None,
        increment_ml=rules.number("liquids", "measure_increment_ml") if spec.is_liquid else None,
        bottle_sizes=rules.bottle_sizes(spec.ingredient, spec.concentration, market)
        if spec.concentration is not None
        else (),
        partners=strengths.partners,
        partner_names=_partner_names(spec, rules, market),
        strengths_given=strengths.given,
        unmarketed=strengths.unmarketed,
        assumed_units=assumed if spec.partners else (),
        partner_limit=_partner_limit(spec, rules, factors or PatientFactors()),
    )
    for number, dose in enumerate(item.doses):
        if not course.strengths.achievable(dose):
            where = f"{path}.doses[{number}]" if len(set(item.doses)) > 1 else f"{path}.dose"
            raise RequestValidationError(
                where, f"{plain(dose)} {course.dose_unit} is not {course.describe_units()}"
            )
    return course


def _check_doses(item: RegimenItem, spec: ProductSpec, path: str, rules: TaperRules) -> None:
    """As many doses as the schedules know, each within the plausibility bound for its unit."""
    if spec.route == Route.TRANSDERMAL.value:
        if len(item.doses) != 1:
            raise RequestValidationError(
                f"{path}.doses", "a patch is one application: give one 'dose' in mcg/hr"
            )
    elif len(item.doses) > rules.max_times_per_day:
        raise RequestValidationError(
            f"{path}.times_per_day", f"at most {rules.max_times_per_day} administrations a day are supported"
        )
    limit = rules.limits.max_dose.get(spec.dose_unit)
    for number, dose in enumerate(item.doses):
        if limit is not None and dose > limit:
            where = f"{path}.doses[{number}]" if len(item.doses) > 1 else f"{path}.dose"
            raise RequestValidationError(where, f"must be at most {plain(limit)} {spec.dose_unit} a dose")


def _strength_set(
    item: RegimenItem, spec: ProductSpec, strengths: tuple[Decimal, ...], path: str, rules: TaperRules
) -> StrengthSet:
    """Real strengths, with the simple-regimen limits (S-2) for tablets and patches; a liquid is any
    number of measures of its one concentration."""
    ceiling = max(item.doses)
    places = max(max(-s.normalize().as_tuple().exponent, 0) for s in strengths)  # type: ignore[operator]
    if ceiling * Decimal(10) ** places > _MAX_TABLE:
        raise RequestValidationError(
            f"{path}.strengths", "strengths with that many decimal places cannot be planned at this dose"
        )
    if spec.is_liquid:
        return StrengthSet(strengths, ceiling)
    simple = rules.raw["simple_regimens"]
    units = item.max_units_per_dose or int(simple["max_units_per_dose"])
    kinds = item.max_strengths_per_dose or int(simple["max_strengths_per_dose"])
    # the simple doses are enumerated: C(strengths, k) x C(units, k) combinations for k <= kinds
    combinations = sum(math.comb(len(set(strengths)), k) * math.comb(units, k) for k in range(1, kinds + 1))
    if combinations > _MAX_COMBINATIONS:
        raise RequestValidationError(
            f"{path}.max_units_per_dose",
            f"with {len(set(strengths))} strengths, {units} units and {kinds} strengths a dose make too many "
            "combinations to plan; allow fewer units or strengths a dose, or list fewer strengths",
        )
    return StrengthSet(strengths, ceiling, max_units=units, max_strengths=kinds)


def _partner_limit(spec: ProductSpec, rules: TaperRules, factors: PatientFactors) -> Decimal | None:
    """The lowest maximum daily dose among the partners with a known maximum (paracetamol), in mg."""
    limits = [
        rule.maximum(factors.liver_disease, factors.weight_kg)[0]
        for rule in (rules.partner(p.ingredient) for p in spec.partners)
        if rule is not None
    ]
    return min(limits) if limits else None


def _partner_names(spec: ProductSpec, rules: TaperRules, market: str | None) -> dict[str, str]:
    names = {}
    for partner in spec.partners:
        rule = rules.partner(partner.ingredient)
        names[partner.ingredient] = rule.name(market) if rule else partner.ingredient
    return names


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
