"""FHIR references → the id of the resource they point to.

A reference can be contained (``#med1``), relative (``Medication/123``), absolute
(``https://server/fhir/Medication/123/_history/2``), a ``urn:uuid:`` placeholder resolved through a
Bundle's ``fullUrl`` values, a conditional reference (``Practitioner?identifier=system|value``), or only
an ``identifier``. Every form is reduced to one plain id string so that a Patient's ``id`` and the
``subject`` of its prescriptions compare equal whichever form the exporter chose. Synthea's bulk
export writes ``urn:uuid:<id>`` with no Bundle around it, so an unresolved ``urn:uuid:`` falls back to
the uuid itself, which is the resource's id there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Resource = dict[str, Any]


@dataclass(frozen=True)
class Target:
    """Where a reference points: a resource type when the reference says it, and an id."""

    resource_type: str | None
    id: str


def _split_literal(text: str) -> Target | None:
    if text.startswith("urn:uuid:") or text.startswith("urn:oid:"):
        return Target(None, text.split(":", 2)[2])
    if "?" in text:
        resource_type, _, query = text.partition("?")
        for part in query.split("&"):
            name, _, value = part.partition("=")
            if name == "identifier" and value:
                return Target(resource_type.rsplit("/", 1)[-1] or None, value.rsplit("|", 1)[-1])
        return None
    parts = [part for part in text.split("/") if part]
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) >= 2:
        return Target(parts[-2], parts[-1])
    return Target(None, parts[0]) if parts else None


@dataclass
class Resolver:
    """Resolves references inside one unit of input (a Bundle, or a bulk export with no fullUrls)."""

    by_full_url: dict[str, Resource] = field(default_factory=dict)

    @classmethod
    def for_bundle(cls, entries: Sequence[Mapping[str, Any]]) -> Resolver:
        index: dict[str, Resource] = {}
        for entry in entries:
            resource = entry.get("resource")
            url = entry.get("fullUrl")
            if isinstance(resource, dict) and isinstance(url, str) and url:
                index[url] = resource
        return cls(index)

    def target(self, reference: object) -> Target | None:
        """The target of a Reference element (a dict), or None when it names nothing usable."""
        if not isinstance(reference, Mapping):
            return None
        text = reference.get("reference")
        if isinstance(text, str) and text.strip():
            text = text.strip()
            if text.startswith("#"):
                return Target(None, text)
            found = self.by_full_url.get(text)
            if found is not None and isinstance(found.get("id"), str):
                return Target(found.get("resourceType"), found["id"])
            return _split_literal(text)
        identifier = reference.get("identifier")
        if isinstance(identifier, Mapping) and isinstance(identifier.get("value"), str):
            return Target(
                reference.get("type") if isinstance(reference.get("type"), str) else None, identifier["value"]
            )
        return None

    def id_of(self, reference: object) -> str | None:
        target = self.target(reference)
        return target.id if target is not None else None

    def resource(self, reference: object) -> Resource | None:
        """The Bundle entry a reference points to, when the Bundle holds it."""
        if isinstance(reference, Mapping) and isinstance(reference.get("reference"), str):
            return self.by_full_url.get(reference["reference"].strip())
        return None


def contained(resource: Mapping[str, Any], reference: object) -> Resource | None:
    """The contained resource a ``#id`` reference points to, if the resource contains it."""
    if not isinstance(reference, Mapping):
        return None
    text = reference.get("reference")
    if not (isinstance(text, str) and text.startswith("#")):
        return None
    wanted = text[1:]
    for inner in resource.get("contained") or []:
        if isinstance(inner, dict) and inner.get("id") == wanted:
            return inner
    return None
