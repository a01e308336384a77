"""OMOP CDM 5.3/5.4 → canonical prescriptions, patients and harm events (ADR 0005, docs/ingest-omop.md).

>>> from taperwise.ingest.common import IngestSink
>>> with IngestSink(Path("out/rx.parquet")) as sink:  # doctest: +SKIP
...     read_omop("cdm.duckdb", sink)

`source` is a DuckDB file (``.duckdb``/``.db``), a folder of CSVs (``drug_exposure.csv``, ``concept.csv``…,
names and columns in either case) or a ``postgresql://`` URL; `schema` names the CDM schema (default
``main`` for DuckDB, ``public`` for PostgreSQL). `on_progress` is called with the number of source records
just read, batch by batch. A source without ``drug_exposure`` or ``concept``, or missing one of their
required columns, raises `UnusableInputError`; every other gap is a problem line and the ingest goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from taperwise.ingest.common import IngestSink
from taperwise.ingest.omop.concepts import load_omop_concepts
from taperwise.ingest.omop.drugs import ORDER_LOOKBACK_DAYS, read_drug_exposures
from taperwise.ingest.omop.people import read_events, read_patients
from taperwise.ingest.omop.source import open_omop

__all__ = ["ORDER_LOOKBACK_DAYS", "read_omop"]


def read_omop(
    source: str | Path,
    sink: IngestSink,
    on_progress: Callable[[int], None] | None = None,
    schema: str | None = None,
) -> None:
    """Read an OMOP CDM into `sink`: prescriptions from drug_exposure, patients, and harm events."""
    concepts = load_omop_concepts()
    with open_omop(source, schema, sink) as cdm:
        read_drug_exposures(cdm, sink, concepts, on_progress)
        read_patients(cdm, sink, on_progress)
        read_events(cdm, sink, concepts, on_progress)
