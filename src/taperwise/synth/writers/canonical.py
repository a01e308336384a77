"""Canonical prescriptions (CSV or Parquet, by the output's suffix) with patients and events beside them.

``-o out/rx.csv`` writes ``out/rx.csv``, ``out/rx.patients.csv`` and ``out/rx.events.csv`` — the naming
``taperwise ingest`` uses for its own outputs, so a synthetic file and an ingested one look the same. An
output without a suffix is a folder: ``prescriptions.csv`` and its siblings are written inside it.
Rows are streamed batch by batch; columns are all text, as the ingest writes them.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from taperwise.canonical import EVENT_COLUMNS, PATIENT_COLUMNS, PRESCRIPTION_COLUMNS
from taperwise.errors import TaperwiseError
from taperwise.synth.generator import Batch, SynthContext
from taperwise.synth.tables import event_table, patient_table, prescription_table

SUFFIXES = (".csv", ".parquet")


def canonical_paths(output: Path) -> dict[str, Path]:
    """Where the prescriptions, patients and events files go for an output argument."""
    if not output.suffix:
        output = output / "prescriptions.csv"
    if output.suffix.lower() not in SUFFIXES:
        raise TaperwiseError(f"{output}: a canonical output must end in .csv or .parquet (or be a folder)")
    return {
        "prescriptions": output,
        "patients": output.with_name(f"{output.stem}.patients{output.suffix}"),
        "events": output.with_name(f"{output.stem}.events{output.suffix}"),
    }


class _TextTableWriter:
    def __init__(self, path: Path, columns: tuple[str, ...]) -> None:
        schema = pa.schema([(name, pa.string()) for name in columns])
        self.path = path
        if path.suffix.lower() == ".parquet":
            self._writer: pq.ParquetWriter | pacsv.CSVWriter = pq.ParquetWriter(path, schema)
        else:
            options = pacsv.WriteOptions(quoting_style="needed")
            self._writer = pacsv.CSVWriter(path, schema, write_options=options)

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(table)

    def close(self) -> None:
        self._writer.close()


class CanonicalWriter:
    def __init__(self, context: SynthContext, output: Path) -> None:
        self.context = context
        self.paths = canonical_paths(output)
        self.paths["prescriptions"].parent.mkdir(parents=True, exist_ok=True)
        self._tables = {
            "prescriptions": _TextTableWriter(self.paths["prescriptions"], PRESCRIPTION_COLUMNS),
            "patients": _TextTableWriter(self.paths["patients"], PATIENT_COLUMNS),
            "events": _TextTableWriter(self.paths["events"], EVENT_COLUMNS),
        }

    def write(self, batch: Batch) -> None:
        self._tables["prescriptions"].write(prescription_table(self.context, batch))
        self._tables["patients"].write(patient_table(self.context, batch))
        self._tables["events"].write(event_table(self.context, batch))

    def close(self) -> list[Path]:
        for table in self._tables.values():
            table.close()
        return list(self.paths.values())
