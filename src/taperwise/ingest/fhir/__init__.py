"""FHIR R4 ingest: bulk NDJSON, Bundles and single resources → canonical prescriptions, patients, events.

Start with `read_fhir`; the mapping rules are in docs/ingest-fhir.md and the choices in
docs/decisions/0004-fhir-ingest.md.
"""

from taperwise.ingest.fhir.reader import read_fhir

__all__ = ["read_fhir"]
