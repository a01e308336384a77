"""Run an ingest into a temporary folder and read its four outputs back as lists of dicts."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from taperwise.ingest.common import IngestSink

CDM = Path(__file__).parent / "cdm"
Row = dict[str, str | None]


@dataclass
class Ingested:
    prescriptions: list[Row]
    patients: list[Row]
    events: list[Row]
    problems: list[Row]
    sink: IngestSink

    def rx(self, rx_id: str) -> Row:
        return next(row for row in self.prescriptions if row["rx_id"] == rx_id)

    def problems_of(self, kind: str) -> list[Row]:
        return [row for row in self.problems if row["kind"] == kind]


def ingest(read: Callable[[IngestSink], None], folder: Path) -> Ingested:
    output = folder / "out" / "rx.parquet"
    with IngestSink(output) as sink:
        read(sink)
    with sink.paths["problems"].open(newline="", encoding="utf-8") as handle:
        problems = list(csv.DictReader(handle))
    return Ingested(
        prescriptions=pq.read_table(output).to_pylist(),
        patients=pq.read_table(sink.paths["patients"]).to_pylist(),
        events=pq.read_table(sink.paths["events"]).to_pylist(),
        problems=problems,
        sink=sink,
    )
