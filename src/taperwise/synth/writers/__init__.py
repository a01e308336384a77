"""Writers of a generated population: canonical CSV/Parquet, FHIR R4 bulk NDJSON, OMOP CDM 5.4 CSVs.

Each writer takes batches in order (``write``) and finishes with ``close``, which returns the paths it
wrote. They share nothing but the batch and the context, so a format is added without touching the
others.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from taperwise.synth.generator import Batch


class PopulationWriter(Protocol):
    def write(self, batch: Batch) -> None: ...

    def close(self) -> list[Path]: ...
