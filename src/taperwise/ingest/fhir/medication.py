"""Which product a medication record names: ``medicationCodeableConcept`` or a Medication resource.

``drug`` takes the product text a person wrote or chose (``text``), else the RxNorm display (an RxNorm
name is what the product parser reads best), else any other coding's display (SNOMED CT, dm+d, NDC).
RxNorm codes go to ``rxcui`` and NDC codes to ``ndc``: the exposure engine trusts codes only through a
verified table, so they travel beside the text and never replace it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from taperwise.ingest.fhir.dosage import concept_words, route_of
from taperwise.ingest.fhir.references import Resolver, Resource, contained

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC = "http://hl7.org/fhir/sid/ndc"


@dataclass(frozen=True)
class Product:
    drug: str | None
    rxcui: str | None = None
    ndc: str | None = None
    route: str | None = None  # from the Medication's form or the product text, when it says
    is_patch: bool = False

    @property
    def named(self) -> bool:
        return bool(self.drug or self.rxcui or self.ndc)


def _codings(concept: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [c for c in concept.get("coding") or [] if isinstance(c, Mapping)]


def _code(codings: list[Mapping[str, Any]], system: str) -> tuple[str | None, str | None]:
    for coding in codings:
        if coding.get("system") == system and isinstance(coding.get("code"), str):
            display = coding.get("display")
            return coding["code"].strip(), display.strip() if isinstance(display, str) else None
    return None, None


def product_from_concept(concept: object, form: object = None) -> Product:
    """The product a CodeableConcept names (with a Medication.form, when there is one)."""
    if not isinstance(concept, Mapping):
        return Product(None)
    codings = _codings(concept)
    rxcui, rx_display = _code(codings, RXNORM)
    ndc, _ = _code(codings, NDC)
    text = concept.get("text")
    displays = [c.get("display") for c in codings if isinstance(c.get("display"), str)]
    drug = next((t.strip() for t in (text, rx_display, *displays) if isinstance(t, str) and t.strip()), None)
    words = f"{concept_words(concept)} {concept_words(form)}"
    is_patch = "patch" in words or "transdermal" in words
    return Product(drug, rxcui, ndc, route_of(form) or route_of(concept), is_patch)


def product_from_medication(medication: Mapping[str, Any]) -> Product:
    return product_from_concept(medication.get("code"), medication.get("form"))


class MedicationIndex:
    """Medication resources seen so far, by id, so references from other files can be resolved.

    Only the few product fields are kept, not the resource, so a national export's catalogue fits.
    """

    def __init__(self, fallback: MedicationIndex | None = None) -> None:
        self._by_id: dict[str, Product] = {}
        self._fallback = fallback

    def add(self, medication: Mapping[str, Any]) -> None:
        if isinstance(medication.get("id"), str):
            self._by_id[medication["id"]] = product_from_medication(medication)

    def get(self, medication_id: str) -> Product | None:
        found = self._by_id.get(medication_id)
        if found is None and self._fallback is not None:
            return self._fallback.get(medication_id)
        return found

    def __len__(self) -> int:
        return len(self._by_id)


def product_of(
    resource: Resource, medications: MedicationIndex, resolver: Resolver
) -> tuple[Product | None, str | None]:
    """The product a medication record names, and a problem sentence when something was wrong.

    No product and a reason: the record cannot become a row. A product and a reason: the row is kept
    (an unresolved reference with a display text) and the reason still goes to the problems file.
    """
    if "medicationCodeableConcept" in resource:
        product = product_from_concept(resource["medicationCodeableConcept"])
        return (product, None) if product.named else (None, "medicationCodeableConcept names no product")
    reference = resource.get("medicationReference")
    if not isinstance(reference, Mapping):
        return None, "no medicationCodeableConcept and no medicationReference"
    inner = contained(resource, reference) or resolver.resource(reference)
    if inner is not None:
        product = product_from_medication(inner)
    else:
        target = resolver.target(reference)
        found = medications.get(target.id) if target is not None else None
        if found is None:
            display = reference.get("display")
            if isinstance(display, str) and display.strip():
                # A display is a person's description of the product; better than losing the record.
                return Product(display.strip()), (
                    f"medicationReference {reference.get('reference')!r} does not resolve; "
                    f"its display {display.strip()!r} is used as the product text"
                )
            return None, f"medicationReference {reference.get('reference')!r} does not resolve"
        product = found
    return (product, None) if product.named else (None, "the referenced Medication names no product")
