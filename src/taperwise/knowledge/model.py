"""What a drug product *is*, as the rest of taperwise sees it.

The parser (`taperwise.knowledge.parser`) and the curated catalogue (`taperwise.knowledge.catalogue`) both
produce these values; the exposure engine and the taper engine only consume them. Strengths are
normalised so that a consumer never has to guess units: solids per unit (``mg`` or ``mcg``), liquids per
millilitre (``mg/mL`` or ``mcg/mL``), patches per hour (``mcg/hr``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum


class DrugClass(StrEnum):
    OPIOID = "opioid"
    BUPRENORPHINE = "buprenorphine"  # partial agonist: its own columns, never in the CDC MME total
    BENZODIAZEPINE = "benzodiazepine"
    OTHER = "other"  # a recognised non-opioid ingredient (paracetamol, naloxone, guaifenesin, ...)


class Route(StrEnum):
    """Where the product is given (clinical-rules §1). A film is buccal or sublingual like a tablet:
    the route is what tells buprenorphine for pain (buccal film, patch) from treatment of opioid use
    disorder (sublingual tablet or film). Conversion factors are looked up by `Product.factor_route`,
    which is this route except for films (see `factor_route`)."""

    ORAL = "oral"  # tablets, capsules, liquids; rectal forms use the oral factor (CDC NDC file)
    RECTAL = "rectal"
    TRANSDERMAL = "transdermal"
    BUCCAL = "buccal"  # buccal tablet, lozenge, buccal film (Belbuca)
    SUBLINGUAL = "sublingual"  # sublingual tablet, sublingual film (Suboxone)
    ORAL_SPRAY = "oral_spray"  # sublingual or oromucosal spray (Subsys)
    NASAL = "nasal"
    INJECTION = "injection"
    OTHER = "other"


# The factor tables' own key for films: the CDC NDC/MME file gives fentanyl films a factor of their own
# (0.18, "Fentanyl, film or oral spray") whether the film is buccal or sublingual.
FILM_FACTOR_ROUTE = "film"


def factor_route(route: str, dose_form: str | None) -> str:
    """The route column of the factor tables a product's factor is looked up by.

    >>> factor_route("buccal", "film"), factor_route("buccal", "tablet")
    ('film', 'buccal')
    """
    return FILM_FACTOR_ROUTE if dose_form == "film" else route


class Release(StrEnum):
    IMMEDIATE = "IR"
    EXTENDED = "ER"


STRENGTH_UNITS = ("mg", "mcg", "mg/mL", "mcg/mL", "mcg/hr")


@dataclass(frozen=True)
class IngredientStrength:
    """One active ingredient of a product and its normalised strength."""

    ingredient: str  # canonical lower-case base name: "oxycodone", "acetaminophen", "fentanyl"
    strength: Decimal
    unit: str  # one of STRENGTH_UNITS
    drug_class: DrugClass

    def __post_init__(self) -> None:
        if self.unit not in STRENGTH_UNITS:
            raise ValueError(f"strength unit {self.unit!r} is not one of {STRENGTH_UNITS}")


@dataclass(frozen=True)
class Product:
    """A parsed or catalogued product. `text` is what the prescription said."""

    text: str
    ingredients: tuple[IngredientStrength, ...]
    dose_form: str  # tablet, dispersible tablet, capsule, solution, patch, film, lozenge, spray, ...
    route: Route
    release: Release
    wear_hours: int | None = None  # patches only: 72 for fentanyl, 168 for 7-day buprenorphine
    brand: str | None = None
    style: str = ""  # "rxnorm", "claim" or "dmd": which writing style the parser recognised
    cough_cold: bool = False  # a cough/cold combination: not counted (clinical-rules §1)
    notes: tuple[str, ...] = field(default=())

    @property
    def opioid(self) -> IngredientStrength | None:
        """The opioid (or buprenorphine) ingredient, if any; combination products have one."""
        for item in self.ingredients:
            if item.drug_class in (DrugClass.OPIOID, DrugClass.BUPRENORPHINE):
                return item
        return None

    @property
    def drug_class(self) -> DrugClass:
        """The class that decides how the product is counted: opioid first, then benzodiazepine."""
        classes = {item.drug_class for item in self.ingredients}
        for wanted in (DrugClass.OPIOID, DrugClass.BUPRENORPHINE, DrugClass.BENZODIAZEPINE):
            if wanted in classes:
                return wanted
        return DrugClass.OTHER

    @property
    def is_patch(self) -> bool:
        return self.route is Route.TRANSDERMAL

    @property
    def factor_route(self) -> str:
        """The route the factor tables key this product by (`factor_route`): films are ``film``."""
        return factor_route(self.route.value, self.dose_form)


@dataclass(frozen=True)
class ParseFailure:
    """Why a product text could not be read; `reason` is shown to the user verbatim."""

    text: str
    reason: str


ParseResult = Product | ParseFailure
