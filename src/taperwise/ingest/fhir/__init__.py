"""FHIR R4 ingest: bulk NDJSON, Bundles and single resources → canonical prescriptions, patients, events.

Start with `read_fhir`; the mapping rules are in docs/ingest-fhir.md and the choices in
docs/decisions/0004-fhir-ingest.md. The reader (and Arrow with it) loads on first use, so that the
command line can read this package's constants (`supply.ASSUME_OPTION`) without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taperwise.ingest.fhir.reader import read_fhir

__all__ = ["read_fhir"]


def __getattr__(name: str) -> Any:
    if name == "read_fhir":
        from taperwise.ingest.fhir.reader import read_fhir

        return read_fhir
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
