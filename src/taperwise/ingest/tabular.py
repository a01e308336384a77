"""CSV or Parquet prescriptions — canonical already, or mapped to it — into an `IngestSink`.

`mapping` names, for a canonical column, the source column that holds it (``{"patient_id": "PAT_ID",
"drug": "Medication"}``); unmapped canonical columns are looked up by their own name, case-insensitively.
A file lacking a required column is refused with `UnusableInputError` naming each missing column; a row
is never refused for its values (the exposure engine reports bad values row by row), except that a row
without a patient or prescription id, or repeating an earlier ``rx_id``, cannot be told apart from others
and becomes a problem line instead of a prescription.

Patients and events written beside the file by a previous ingest (``rx.patients.csv``,
``rx.events.parquet``) are carried over. DuckDB streams the file, so it need not fit in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import duckdb

from taperwise.canonical import (
    EVENT_COLUMNS,
    PATIENT_COLUMNS,
    PRESCRIPTION_COLUMNS,
    PRESCRIPTION_REQUIRED,
)
from taperwise.errors import UnusableInputError
from taperwise.exposure.prescriptions import READ_PROBLEM_COLUMN, csv_relation
from taperwise.ingest.common import IngestSink, sibling

BATCH = 10_000
_IDENTITY = ("patient_id", "rx_id")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _relation(path: Path) -> str:
    text = "'" + str(path).replace("'", "''") + "'"
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return f"(SELECT *, CAST(NULL AS VARCHAR) AS {READ_PROBLEM_COLUMN} FROM read_parquet({text}))"
    if suffix in (".csv", ".txt", ".tsv", ".gz"):
        # The canonical reader's fixed dialect: a row with the wrong number of fields is named, not guessed.
        return csv_relation(path)
    raise UnusableInputError(f"{path}: unknown file type {suffix!r}; use .csv or .parquet")


def _columns(connection: duckdb.DuckDBPyConnection, path: Path, relation: str) -> list[str]:
    if path.stat().st_size == 0:
        raise UnusableInputError(f"{path}: the file is empty (a header row is required)")
    try:
        described = connection.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
        return [str(row[0]) for row in described if row[0] != READ_PROBLEM_COLUMN]
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnusableInputError(f"{path}: cannot be read ({first})") from exc


def _select_list(
    path: Path,
    actual: Sequence[str],
    wanted: Sequence[str],
    required: Sequence[str],
    mapping: Mapping[str, str],
) -> str:
    """``"Source Col" AS canonical`` for each wanted column; raises naming every missing required one."""
    unknown = sorted(set(mapping) - set(wanted))
    if unknown:
        raise UnusableInputError(
            f"{path}: mapping names unknown canonical column(s) {', '.join(unknown)}; "
            f"known: {', '.join(wanted)}"
        )
    by_lower = {name.strip().lower(): name for name in actual}
    chosen: dict[str, str | None] = {}
    for name in wanted:
        source = mapping.get(name, name)
        chosen[name] = by_lower.get(source.strip().lower())
    missing = [
        f"{name} (mapped from {mapping[name]!r})" if name in mapping else name
        for name in required
        if chosen[name] is None
    ]
    if missing:
        raise UnusableInputError(
            f"{path}: required column(s) missing: {', '.join(missing)} (found: {', '.join(actual) or 'none'})"
        )
    return ", ".join(
        f"CAST({_quote(col)} AS VARCHAR) AS {name}" if col else f"CAST(NULL AS VARCHAR) AS {name}"
        for name, col in chosen.items()
    )


_DATE_COLUMNS = frozenset({"start_date", "birth_date", "death_date", "date"})


def _row(columns: Sequence[str], values: Sequence[object]) -> dict[str, str | None]:
    """Values as stripped text; a Parquet timestamp in a date column keeps its date part."""
    row: dict[str, str | None] = {}
    for name, value in zip(columns, values, strict=True):
        text = None if value is None else str(value).strip() or None
        if text and name in _DATE_COLUMNS and len(text) > 10 and text[10] in " T":
            text = text[:10]
        row[name] = text
    return row


def _read_prescriptions(
    connection: duckdb.DuckDBPyConnection,
    source: Path,
    sink: IngestSink,
    mapping: Mapping[str, str],
    on_progress: Callable[[int], None] | None,
) -> None:
    relation = _relation(source)
    select = _select_list(
        source, _columns(connection, source, relation), PRESCRIPTION_COLUMNS, PRESCRIPTION_REQUIRED, mapping
    )
    repeated = {
        str(rx)
        for (rx,) in connection.execute(
            f"SELECT rx_id FROM (SELECT {select} FROM {relation}) WHERE rx_id IS NOT NULL "
            "GROUP BY rx_id HAVING count(*) > 1"
        ).fetchall()
    }
    seen: set[str] = set()
    cursor = connection.execute(f"SELECT {select}, {READ_PROBLEM_COLUMN} FROM {relation}")
    line = 1  # data rows are counted from 1, as a spreadsheet shows them below the header
    while batch := cursor.fetchmany(BATCH):
        for *values, problem in batch:
            line += 1
            row = _row(PRESCRIPTION_COLUMNS, values)
            where = f"{source.name} row {line - 1}"
            if problem is not None:
                sink.report(where, row["rx_id"] or "", "malformed_row", str(problem))
                continue
            absent = [name for name in _IDENTITY if not row[name]]
            if absent:
                sink.report(
                    where,
                    row["rx_id"] or "",
                    "missing_field",
                    f"{' and '.join(absent)} empty; the row cannot be attributed and is not used",
                )
                continue
            rx_id = str(row["rx_id"])
            if rx_id in repeated:
                if rx_id in seen:
                    sink.report(
                        where,
                        rx_id,
                        "duplicate",
                        f"rx_id {rx_id} already used by an earlier row; this row is not used",
                    )
                    continue
                seen.add(rx_id)
            sink.prescription(row)
        sink.read("csv_row", len(batch))
        if on_progress is not None:
            on_progress(len(batch))


def _carry_over(
    connection: duckdb.DuckDBPyConnection, source: Path, sink: IngestSink, part: str, columns: Sequence[str]
) -> None:
    for suffix in (source.suffix, ".csv", ".parquet"):
        path = sibling(source, part, suffix)
        if path.is_file():
            break
    else:
        return
    relation = _relation(path)
    select = _select_list(path, _columns(connection, path, relation), columns, columns[:1], {})
    add = sink.patient if part == "patients" else sink.event
    cursor = connection.execute(f"SELECT {select}, {READ_PROBLEM_COLUMN} FROM {relation}")
    line = 0
    while batch := cursor.fetchmany(BATCH):
        for *values, problem in batch:
            line += 1
            row = _row(columns, values)
            if problem is not None:
                sink.report(f"{path.name} row {line}", row[columns[0]] or "", "malformed_row", str(problem))
                continue
            add(row)
        sink.read(f"csv_{part}_row", len(batch))


def read_tabular(
    source: Path,
    sink: IngestSink,
    mapping: Mapping[str, str] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> None:
    """Read canonical (or `mapping`-mapped) prescriptions from a CSV or Parquet file into `sink`.

    `on_progress` is called with the number of rows just read, batch by batch.
    """
    source = Path(source)
    if not source.is_file():
        raise UnusableInputError(f"{source}: no such file")
    connection = duckdb.connect()
    try:
        _read_prescriptions(connection, source, sink, mapping or {}, on_progress)
        _carry_over(connection, source, sink, "patients", PATIENT_COLUMNS)
        _carry_over(connection, source, sink, "events", EVENT_COLUMNS)
    finally:
        connection.close()
