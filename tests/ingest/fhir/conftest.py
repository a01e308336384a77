from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from taperwise.ingest.common import IngestSink
from taperwise.ingest.fhir import read_fhir

DATA = Path(__file__).parent / "data"


@dataclass
class Ingested:
    sink: IngestSink
    prescriptions: list[dict[str, str]]
    patients: list[dict[str, str]]
    events: list[dict[str, str]]
    problems: list[dict[str, str]]

    def rx(self, rx_id: str) -> dict[str, str]:
        return next(row for row in self.prescriptions if row["rx_id"] == rx_id)

    def problem(self, kind: str) -> list[dict[str, str]]:
        return [row for row in self.problems if row["kind"] == kind]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def ingest(tmp_path: Path) -> Callable[..., Ingested]:
    def run(source: Path, progress: list[int] | None = None) -> Ingested:
        with IngestSink(tmp_path / "out" / "rx.csv") as sink:
            read_fhir(source, sink, progress.append if progress is not None else None)
        return Ingested(
            sink, *(_rows(sink.paths[p]) for p in ("prescriptions", "patients", "events", "problems"))
        )

    return run


@pytest.fixture
def write_ndjson(tmp_path: Path) -> Callable[[str, list[dict[str, object]]], Path]:
    folder = tmp_path / "export"

    def write(name: str, resources: list[dict[str, object]]) -> Path:
        folder.mkdir(exist_ok=True)
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in resources), encoding="utf-8")
        return folder

    return write
