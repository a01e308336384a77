"""What every ingest produces — canonical tables, a problems list, counts — streamed to disk.

Outputs of `taperwise ingest … -o OUT.parquet` (or `.csv`): the prescriptions at OUT, and beside it
``OUT-stem.patients.<ext>``, ``OUT-stem.events.<ext>`` and ``OUT-stem.problems.csv`` (one row per problem:
source, record, kind, message). Rows are buffered and written in batches, so an export larger than
memory streams through.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from taperwise.canonical import EVENT_COLUMNS, PATIENT_COLUMNS, PRESCRIPTION_COLUMNS
from taperwise.errors import UnusableInputError

PROBLEM_COLUMNS = ("source", "record", "kind", "message")
BATCH_ROWS = 50_000
Row = Mapping[str, object]


@dataclass(frozen=True)
class Problem:
    """One source record that could not be used as it stands, and why.

    `source` is the file (and line or resource path), `record` the record's own id when it has one, `kind`
    a short stable code (``malformed_json``, ``missing_field``, ``unresolved_reference``, ``bad_value``,
    ``duplicate``…), `message` a sentence a data manager can act on.
    """

    source: str
    record: str
    kind: str
    message: str


def text_table(rows: Sequence[Row], columns: Sequence[str]) -> pa.Table:
    """Rows as an all-text Arrow table with exactly `columns`, in that order (missing values null)."""
    data = {
        name: pa.array([None if row.get(name) is None else str(row.get(name)) for row in rows], pa.string())
        for name in columns
    }
    return pa.table(data, schema=pa.schema([(name, pa.string()) for name in columns]))


def sibling(path: Path, part: str, suffix: str | None = None) -> Path:
    """``out/rx.parquet`` → ``out/rx.patients.parquet``."""
    return path.with_name(f"{path.stem}.{part}{suffix or path.suffix}")


class _TableWriter:
    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self.path = path
        self.columns = tuple(columns)
        self.rows_written = 0
        self._buffer: list[Row] = []
        schema = pa.schema([(name, pa.string()) for name in columns])
        suffix = path.suffix.lower()
        if suffix == ".parquet":
            self._writer: pq.ParquetWriter | pacsv.CSVWriter = pq.ParquetWriter(path, schema)
        elif suffix == ".csv":
            self._writer = pacsv.CSVWriter(path, schema)
        else:
            raise UnusableInputError(f"{path}: output must end in .csv or .parquet")

    def add(self, row: Row) -> None:
        self._buffer.append(row)
        if len(self._buffer) >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            self._writer.write_table(text_table(self._buffer, self.columns))
            self.rows_written += len(self._buffer)
            self._buffer = []

    def close(self) -> None:
        self.flush()
        self._writer.close()


class IngestSink:
    """Receives canonical rows and problems from a reader and streams them to the four output files.

    Use as a context manager; `records_read` counts source records by type (``MedicationRequest``,
    ``drug_exposure``, ``csv_row``…) for the summary.
    """

    def __init__(self, output: Path) -> None:
        output.parent.mkdir(parents=True, exist_ok=True)
        self.paths = {
            "prescriptions": output,
            "patients": sibling(output, "patients"),
            "events": sibling(output, "events"),
            "problems": sibling(output, "problems", ".csv"),
        }
        self._prescriptions = _TableWriter(self.paths["prescriptions"], PRESCRIPTION_COLUMNS)
        self._patients = _TableWriter(self.paths["patients"], PATIENT_COLUMNS)
        self._events = _TableWriter(self.paths["events"], EVENT_COLUMNS)
        self._problems = _TableWriter(self.paths["problems"], PROBLEM_COLUMNS)
        self.records_read: Counter[str] = Counter()
        self.problem_kinds: Counter[str] = Counter()
        self.patient_ids: set[str] = set()

    def prescription(self, row: Row) -> None:
        patient = row.get("patient_id")
        if patient:
            self.patient_ids.add(str(patient))
        self._prescriptions.add(row)

    def patient(self, row: Row) -> None:
        self._patients.add(row)

    def event(self, row: Row) -> None:
        self._events.add(row)

    def report(self, source: str, record: str, kind: str, message: str) -> None:
        self.problem_kinds[kind] += 1
        self._problems.add(Problem(source, record, kind, message).__dict__)

    def read(self, record_type: str, count: int = 1) -> None:
        self.records_read[record_type] += count

    @property
    def prescriptions_written(self) -> int:
        return self._prescriptions.rows_written + len(self._prescriptions._buffer)

    def close(self) -> None:
        for writer in (self._prescriptions, self._patients, self._events, self._problems):
            writer.close()

    def __enter__(self) -> IngestSink:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
