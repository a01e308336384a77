"""What every ingest produces — canonical tables, a problems list, counts — streamed to disk.

Outputs of `taperwise ingest … -o OUT.parquet` (or `.csv`): the prescriptions at OUT, and beside it
``OUT-stem.patients.<ext>``, ``OUT-stem.events.<ext>``, ``OUT-stem.problems.csv`` (one row per problem:
source, record, kind, message) and ``OUT-stem.ingest.json`` (what was read, with which options and
assumptions, the plausible ranges in force, and the counts the summary prints). Rows are buffered and
written in batches, so an export larger than memory streams through.

Every prescription row passes `taperwise.ingest.plausibility` on its way in: a value outside the plausible
ranges of `taperwise.plausible` (dates from TAPERWISE_EARLIEST_DATE / TAPERWISE_LATEST_DATE, read once
per run) is a problem naming the record and the field, and the row is written as the source gave it.
Every column is text, so any value the source holds can be written without overflow or rounding.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from taperwise import __version__
from taperwise.canonical import EVENT_COLUMNS, PATIENT_COLUMNS, PRESCRIPTION_COLUMNS
from taperwise.csvsafe import guard_table
from taperwise.errors import UnusableInputError
from taperwise.ingest.plausibility import limits_metadata, row_problems
from taperwise.paths import make_folder_for, sibling
from taperwise.plausible import DateRange

PROBLEM_COLUMNS = ("source", "record", "kind", "message")
METADATA_FORMAT = "taperwise-ingest/1"
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


class _TableWriter:
    """Streams rows to a hidden partial file beside `path`; `commit` moves it into place, `discard` removes
    it. A failed run therefore leaves no half-written output, and an earlier good one stays untouched."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self.path = path
        self.partial = path.with_name(f".{path.name}.partial")
        self.columns = tuple(columns)
        self.rows_written = 0
        self._buffer: list[Row] = []
        schema = pa.schema([(name, pa.string()) for name in columns])
        suffix = path.suffix.lower()
        if suffix == ".parquet":
            self._writer: pq.ParquetWriter | pacsv.CSVWriter = pq.ParquetWriter(self.partial, schema)
        elif suffix == ".csv":
            self._writer = pacsv.CSVWriter(self.partial, schema)
        else:
            raise UnusableInputError(f"{path}: output must end in .csv or .parquet")

    def add(self, row: Row) -> None:
        self._buffer.append(row)
        if len(self._buffer) >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            table = text_table(self._buffer, self.columns)
            if isinstance(self._writer, pacsv.CSVWriter):
                table = guard_table(table)  # a formula-looking cell shown as text (csvsafe.py)
            self._writer.write_table(table)
            self.rows_written += len(self._buffer)
            self._buffer = []

    def commit(self) -> None:
        self.flush()
        self._writer.close()
        try:
            os.replace(self.partial, self.path)
        except OSError as exc:
            raise UnusableInputError(f"{self.path}: cannot be written ({exc.strerror or exc})") from exc

    def discard(self) -> None:
        self._writer.close()
        self.partial.unlink(missing_ok=True)


class RowSink(Protocol):
    """Where a reader puts what it reads: `IngestSink` (files) or `MemorySink` (one request's records)."""

    def prescription(self, row: Row, source: str = "", record: str | None = None) -> None: ...

    def patient(self, row: Row) -> None: ...

    def event(self, row: Row) -> None: ...

    def report(self, source: str, record: str, kind: str, message: str) -> None: ...

    def read(self, record_type: str, count: int = 1) -> None: ...


class MemorySink:
    """A reader's rows and problems kept in memory: the few records of one request (a CDS Hooks call),
    checked for plausibility exactly as `IngestSink` checks the rows it writes."""

    def __init__(self, dates: DateRange | None = None) -> None:
        self.dates = DateRange.from_environment() if dates is None else dates
        self.prescriptions: list[dict[str, object]] = []
        self.sources: list[str] = []  # where each prescription came from, in the same order
        self.patients: list[dict[str, object]] = []
        self.events: list[dict[str, object]] = []
        self.problems: list[Problem] = []
        self.records_read: Counter[str] = Counter()

    def prescription(self, row: Row, source: str = "", record: str | None = None) -> None:
        for kind, message in row_problems(row, self.dates):
            self.report(source, str(row.get("rx_id") or "") if record is None else record, kind, message)
        self.prescriptions.append(dict(row))
        self.sources.append(source)

    def patient(self, row: Row) -> None:
        self.patients.append(dict(row))

    def event(self, row: Row) -> None:
        self.events.append(dict(row))

    def report(self, source: str, record: str, kind: str, message: str) -> None:
        self.problems.append(Problem(source, record, kind, message))

    def read(self, record_type: str, count: int = 1) -> None:
        self.records_read[record_type] += count


class IngestSink:
    """Receives canonical rows and problems from a reader and streams them to the four output files.

    Use as a context manager; `records_read` counts source records by type (``MedicationRequest``,
    ``drug_exposure``, ``csv_row``…) for the summary. `dates` is the plausible date range (by default
    `DateRange.from_environment()`, which raises `PlausibleRangeError` for an unusable setting).
    """

    @staticmethod
    def paths_for(output: Path) -> dict[str, Path]:
        """The five files an ingest into `output` writes."""
        return {
            "prescriptions": output,
            "patients": sibling(output, "patients"),
            "events": sibling(output, "events"),
            "problems": sibling(output, "problems", ".csv"),
            "metadata": sibling(output, "ingest", ".json"),
        }

    def __init__(self, output: Path, dates: DateRange | None = None) -> None:
        self.dates = DateRange.from_environment() if dates is None else dates
        make_folder_for(output)
        self.paths = self.paths_for(output)
        for path in self.paths.values():  # checked before any is replaced, so no run leaves a mixed set
            if path.is_dir():
                raise UnusableInputError(f"{path}: cannot be written (a folder of that name is there)")
        self._metadata_partial = self.paths["metadata"].with_name(f".{self.paths['metadata'].name}.partial")
        self._writers: list[_TableWriter] = []
        try:
            for part, columns in (
                ("prescriptions", PRESCRIPTION_COLUMNS), ("patients", PATIENT_COLUMNS),
                ("events", EVENT_COLUMNS), ("problems", PROBLEM_COLUMNS),
            ):  # fmt: skip
                self._writers.append(_TableWriter(self.paths[part], columns))
        except OSError as exc:
            self.discard()
            raise UnusableInputError(f"{self.paths[part]}: cannot be written ({exc})") from exc
        except BaseException:
            self.discard()
            raise
        self._prescriptions, self._patients, self._events, self._problems = self._writers
        self.records_read: Counter[str] = Counter()
        self.problem_kinds: Counter[str] = Counter()
        self.patient_ids: set[str] = set()
        self.supply_days_sources: Counter[str] = Counter()
        # What the metadata file says was read and how: set by the caller (`reader`, `source`, `options`,
        # `assumptions`: each a dict; one with `supply_days_source` gets the number of rows so marked).
        self.provenance: dict[str, Any] = {}

    def prescription(self, row: Row, source: str = "", record: str | None = None) -> None:
        """Write one canonical prescription; each implausible value in it is reported against `source`
        (file and line or row) and `record` (by default the row's rx_id), and the row is written as is."""
        for kind, message in row_problems(row, self.dates):
            self.report(source, str(row.get("rx_id") or "") if record is None else record, kind, message)
        patient = row.get("patient_id")
        if patient:
            self.patient_ids.add(str(patient))
        self.supply_days_sources[str(row.get("supply_days_source") or "")] += 1
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

    def metadata(self) -> dict[str, Any]:
        """The ingest metadata: provenance given by the caller, the assumptions in force, and the counts."""
        assumptions = []
        for item in self.provenance.get("assumptions") or []:
            entry = dict(item)
            if "supply_days_source" in entry:
                entry["rows"] = self.supply_days_sources[str(entry["supply_days_source"])]
            assumptions.append(entry)
        return {
            "format": METADATA_FORMAT,
            "taperwise_version": __version__,
            **{k: v for k, v in self.provenance.items() if k != "assumptions"},
            "assumptions": assumptions,
            "plausible": limits_metadata(self.dates),
            "records_read": dict(sorted(self.records_read.items())),
            "prescriptions_written": self.prescriptions_written,
            "supply_days_source": {k or "(empty)": v for k, v in sorted(self.supply_days_sources.items())},
            "problems": dict(sorted(self.problem_kinds.items())),
        }

    def close(self) -> None:
        """Put the five files in place (they appear together, only when the whole read succeeded)."""
        text = json.dumps(self.metadata(), indent=2, ensure_ascii=False, default=str) + "\n"
        self._metadata_partial.write_text(text, encoding="utf-8")
        for writer in self._writers:
            writer.commit()
        os.replace(self._metadata_partial, self.paths["metadata"])

    def discard(self) -> None:
        """Remove what was written so far: a run that failed leaves no output."""
        for writer in self._writers:
            writer.discard()
        self._metadata_partial.unlink(missing_ok=True)

    def __enter__(self) -> IngestSink:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.close()
        else:
            self.discard()
