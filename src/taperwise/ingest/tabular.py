"""CSV or Parquet prescriptions — canonical already, or mapped to it — into an `IngestSink`.

`mapping` names, for a canonical column, the source column that holds it (``{"patient_id": "PAT_ID",
"drug": "Medication"}``); unmapped canonical columns are looked up by their own name, case-insensitively.
A file lacking a required column is refused with `UnusableInputError` naming each missing column; a row
is never refused for its values (the exposure engine reports bad values row by row), except that a row
without a patient or prescription id, or repeating an earlier ``rx_id``, cannot be told apart from others
and becomes a problem line instead of a prescription. A row holding bytes that are not UTF-8 text is a
``bad_encoding`` problem and is not used (its values cannot be read as written); the rest of the file is
read (`taperwise.ingest.text.utf8_csv`). A byte-order mark is accepted. Implausible values (a start date in
1850, 1e20 days) are reported by the sink and the row is written as given
(`taperwise.ingest.plausibility`).

Patients and events written beside the file by a previous ingest (``rx.patients.csv``,
``rx.events.parquet``) are carried over. DuckDB streams the file, so it need not fit in memory.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import duckdb

from taperwise.canonical import (
    EVENT_COLUMNS,
    PATIENT_COLUMNS,
    PRESCRIPTION_COLUMNS,
    PRESCRIPTION_REQUIRED,
)
from taperwise.csvsafe import unguard_sql
from taperwise.errors import UnusableInputError
from taperwise.exposure.prescriptions import READ_PROBLEM_COLUMN, csv_relation
from taperwise.ingest.common import IngestSink
from taperwise.ingest.text import bad_columns, shown, utf8_csv
from taperwise.paths import sibling

BATCH = 10_000
_IDENTITY = ("patient_id", "rx_id")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _relation(path: Path, scratch: Path) -> str:
    text = "'" + str(path).replace("'", "''") + "'"
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return f"(SELECT *, CAST(NULL AS VARCHAR) AS {READ_PROBLEM_COLUMN} FROM read_parquet({text}))"
    if suffix in (".csv", ".txt", ".tsv", ".gz"):
        # The canonical reader's fixed dialect: a row with the wrong number of fields is named, not guessed.
        # A file that is not UTF-8 throughout is read from a copy marking the rows that are not.
        return csv_relation(utf8_csv(path, scratch) or path)
    raise UnusableInputError(f"{path}: unknown file type {suffix!r}; use .csv or .parquet")


def _not_utf8(row: Mapping[str, str | None]) -> str | None:
    """Why a row read from a marked copy cannot be used, or None."""
    columns = bad_columns(dict(row))
    if not columns:
        return None
    return (
        f"{', '.join(columns)} hold(s) bytes that are not UTF-8 text (shown as \ufffd: "
        f"{shown(row[columns[0]])[:60]!r}); the row is not used (save the file as UTF-8)"
    )


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
    # A CSV's formula guard (csvsafe.py, ADR 0015) is taken off, so a CSV taperwise wrote reads as it was.
    is_csv = path.suffix.lower() not in (".parquet", ".pq")

    def read(col: str) -> str:
        text = f"CAST({_quote(col)} AS VARCHAR)"
        return unguard_sql(text) if is_csv else text

    nothing = "CAST(NULL AS VARCHAR)"
    return ", ".join(f"{read(col) if col else nothing} AS {name}" for name, col in chosen.items())


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
    scratch: Path,
) -> None:
    relation = _relation(source, scratch)
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
                sink.report(where, shown(row["rx_id"]), "malformed_row", str(problem))
                continue
            encoding = _not_utf8(row)
            if encoding is not None:
                sink.report(where, shown(row["rx_id"]), "bad_encoding", encoding)
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
            sink.prescription(row, where)
        sink.read("csv_row", len(batch))
        if on_progress is not None:
            on_progress(len(batch))


def _carry_over(
    connection: duckdb.DuckDBPyConnection,
    source: Path,
    sink: IngestSink,
    part: str,
    columns: Sequence[str],
    scratch: Path,
) -> None:
    for suffix in (source.suffix, ".csv", ".parquet"):
        path = sibling(source, part, suffix)
        if path.is_file():
            break
    else:
        return
    relation = _relation(path, scratch)
    select = _select_list(path, _columns(connection, path, relation), columns, columns[:1], {})
    add = sink.patient if part == "patients" else sink.event
    cursor = connection.execute(f"SELECT {select}, {READ_PROBLEM_COLUMN} FROM {relation}")
    line = 0
    while batch := cursor.fetchmany(BATCH):
        for *values, problem in batch:
            line += 1
            row = _row(columns, values)
            if problem is not None:
                sink.report(f"{path.name} row {line}", shown(row[columns[0]]), "malformed_row", str(problem))
                continue
            encoding = _not_utf8(row)
            if encoding is not None:
                sink.report(f"{path.name} row {line}", shown(row[columns[0]]), "bad_encoding", encoding)
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
        with tempfile.TemporaryDirectory(prefix="taperwise-ingest-") as folder:
            scratch = Path(folder)
            _read_prescriptions(connection, source, sink, mapping or {}, on_progress, scratch)
            _carry_over(connection, source, sink, "patients", PATIENT_COLUMNS, scratch)
            _carry_over(connection, source, sink, "events", EVENT_COLUMNS, scratch)
    finally:
        connection.close()
