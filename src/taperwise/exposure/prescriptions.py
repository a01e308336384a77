"""Canonical prescriptions: reading them from CSV or Parquet into an engine table.

Every column is read as text and cast inside the engine with ``try_cast``, so a malformed value in one row
becomes a reported problem on that row instead of an error that stops the whole file. A file is refused
only when it cannot be used at all (missing, unreadable, a required column absent); the message names
the file and the problem. Input order is kept in ``_row`` because the ``mme`` command answers row by row.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from taperwise.canonical import PRESCRIPTION_OPTIONAL, PRESCRIPTION_REQUIRED
from taperwise.errors import UnusableInputError
from taperwise.exposure.engine import register_arrow

REQUIRED_COLUMNS = PRESCRIPTION_REQUIRED
OPTIONAL_COLUMNS = PRESCRIPTION_OPTIONAL
ROW = "_row"


def checked_column_names(path: Path, names: Sequence[str], required: Sequence[str]) -> list[str]:
    """Column names in lower case; refuses the file when a name repeats or a required one is missing."""
    lowered = [name.strip().lower() for name in names]
    duplicated = sorted({name for name in lowered if lowered.count(name) > 1})
    if duplicated:
        raise UnusableInputError(f"{path}: column(s) {', '.join(duplicated)} appear more than once")
    missing = [name for name in required if name not in lowered]
    if missing:
        raise UnusableInputError(
            f"{path}: required column(s) missing: {', '.join(missing)} "
            f"(found: {', '.join(lowered) or 'none'})"
        )
    return lowered


def read_table_file(path: Path, required: Sequence[str], optional: Sequence[str]) -> pa.Table:
    """Read a CSV or Parquet file as all-text columns named in lower case, with ``_row`` (0-based).

    Missing optional columns are added as nulls; unknown columns are kept.
    """
    if not path.exists():
        raise UnusableInputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            table = pq.read_table(path)
        elif suffix in (".csv", ".txt", ".gz"):
            table = _read_csv_as_text(path)
        else:
            raise UnusableInputError(f"{path}: unknown file type {suffix!r}; use .csv or .parquet")
    except (pa.ArrowInvalid, OSError) as exc:
        raise UnusableInputError(f"{path}: cannot be read ({_first_line(exc)})") from exc
    table = table.rename_columns(checked_column_names(path, table.column_names, required))
    columns = {name: _as_text(table.column(name)) for name in table.column_names}
    for name in optional:
        columns.setdefault(name, pa.nulls(table.num_rows, pa.string()))
    columns[ROW] = pa.array(range(table.num_rows), pa.int64())
    return pa.table(columns)


def _read_csv_as_text(path: Path) -> pa.Table:
    if path.stat().st_size == 0:
        raise UnusableInputError(f"{path}: the file is empty (a header row is required)")
    # The streaming reader infers the header from the first block only, so big files are read once.
    names = pacsv.open_csv(path).schema.names
    return pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in names},
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return pc.utf8_trim_whitespace(column.cast(pa.string()))
    if pa.types.is_date(column.type) or pa.types.is_timestamp(column.type):
        return pc.strftime(column, format="%Y-%m-%d")
    return column.cast(pa.string())


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _duckdb_scan(path: Path) -> str:
    """A DuckDB table function that streams the file, with a 0-based row number column ``_file_row``."""
    if path.is_dir():
        raise UnusableInputError(
            f"{path}: is a folder; DuckDB reads one .csv or .parquet file (a folder of Parquet files, or a "
            "URI, is read with --engine spark)"
        )
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        scan = f"read_parquet({_sql_text(str(path))}, file_row_number = true)"
        return f"(SELECT *, file_row_number AS _file_row FROM {scan})"
    if suffix in (".csv", ".txt", ".gz"):
        if path.stat().st_size == 0:
            raise UnusableInputError(f"{path}: the file is empty (a header row is required)")
        # all_varchar: every value stays text, so a bad value is a reported problem on its row, not a read
        # error; row_number() over () is DuckDB's order-preserving streaming window.
        scan = f"read_csv({_sql_text(str(path))}, all_varchar = true, header = true)"
        return f"(SELECT *, row_number() OVER () - 1 AS _file_row FROM {scan})"
    raise UnusableInputError(f"{path}: unknown file type {suffix!r}; use .csv or .parquet")


def _read_with_duckdb(con: ibis.BaseBackend, path: Path) -> ir.Table:
    """The file as a view on `con`: read by DuckDB as it is queried, never held whole in Python."""
    if not path.exists():
        raise UnusableInputError(f"{path}: no such file")
    scan = _duckdb_scan(path)
    raw = con.con  # the DuckDB connection behind the Ibis backend
    try:
        names = [row[0] for row in raw.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()]
    except Exception as exc:  # DuckDB raises its own error types for unreadable files
        raise UnusableInputError(f"{path}: cannot be read ({_first_line(exc)})") from exc
    names = [name for name in names if name not in ("file_row_number", "_file_row")]
    lowered = checked_column_names(path, names, REQUIRED_COLUMNS)
    columns = [
        f"trim(CAST({_quote(name)} AS VARCHAR)) AS {_quote(low)}"
        for name, low in zip(names, lowered, strict=True)
    ]
    columns += [
        f"CAST(NULL AS VARCHAR) AS {_quote(name)}" for name in OPTIONAL_COLUMNS if name not in lowered
    ]
    view = f"prescriptions_{uuid.uuid4().hex[:12]}"
    raw.execute(f"CREATE TEMP VIEW {view} AS SELECT {', '.join(columns)}, _file_row AS {ROW} FROM {scan}")
    return con.table(view)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):/+(.*)$")


def spark_location(path: Path | str) -> str:
    """The location Spark should read: a local path, or a URI (``s3a://…``, ``hdfs://…``, ``abfss://…``).

    A URI that passed through `pathlib.Path` lost one slash after its scheme; it is put back.
    """
    text = str(path)
    match = _URI.match(text)
    if match and match.group(1).lower() != "file" and len(match.group(1)) > 1:
        return f"{match.group(1)}://{match.group(2)}"
    return text


def _file_kind(location: str) -> str:
    """``parquet`` or ``csv`` from the name; a folder is read as Parquet unless its name says csv."""
    name = location.rstrip("/").lower()
    if name.endswith((".csv", ".txt", ".gz")) or name.endswith("csv"):
        return "csv"
    if name.endswith((".parquet", ".pq")) or "." not in name.rsplit("/", 1)[-1]:
        return "parquet"
    raise UnusableInputError(f"{location}: unknown file type; use .csv or .parquet (or a folder of them)")


def _read_with_spark(con: ibis.BaseBackend, path: Path | str) -> ir.Table:
    """The file, folder or URI read by Spark itself, on the executors: nothing passes through the driver.

    Rows are numbered in the order Spark reads them, consecutively from 0 (one small job counts the rows
    of each input split). For one file that is the file's order; for a folder, the files' read order.
    """
    from pyspark.errors import AnalysisException
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    location = spark_location(path)
    if "://" not in location and not Path(location).exists():
        raise UnusableInputError(f"{location}: no such file")
    session = con._session  # the SparkSession behind the Ibis backend
    kind = _file_kind(location)
    try:
        if kind == "parquet":
            frame = session.read.parquet(location)
        else:
            # RFC 4180 quoting, as DuckDB and Arrow read and write it: a quote inside a field is doubled.
            options = {"header": True, "inferSchema": False, "quote": '"', "escape": '"'}
            frame = session.read.options(**options).csv(location)
    except AnalysisException as exc:
        raise UnusableInputError(f"{location}: cannot be read ({_first_line(exc)})") from exc
    lowered = checked_column_names(Path(location), frame.columns, REQUIRED_COLUMNS)
    columns = []
    for field, low in zip(frame.schema.fields, lowered, strict=True):
        value = F.col(f"`{field.name}`")
        if isinstance(field.dataType, T.DateType | T.TimestampType):
            text = F.date_format(value, "yyyy-MM-dd")
        else:
            text = F.trim(value.cast("string"))
        columns.append(text.alias(low))
    columns += [F.lit(None).cast("string").alias(name) for name in OPTIONAL_COLUMNS if name not in lowered]
    split = F.spark_partition_id()
    numbered = frame.select(*columns, split.alias("_split"), F.monotonically_increasing_id().alias("_id"))
    # monotonically_increasing_id is (split << 33) + position in the split: count each split's rows once,
    # then each row's number is the rows of the splits before it plus its position.
    counts = sorted(
        (r["_split"], r["n"]) for r in numbered.groupBy("_split").agg(F.count("*").alias("n")).collect()
    )
    offsets, total = [], 0
    for number, n in counts:
        offsets.append((number, total))
        total += n
    starts = session.createDataFrame(offsets or [(0, 0)], "_split INT, _offset LONG")
    row = (F.col("_offset") + F.col("_id") - F.shiftleft(F.col("_split").cast("long"), 33)).alias(ROW)
    keep = [c for c in numbered.columns if c not in ("_split", "_id")]
    table = numbered.join(F.broadcast(starts), "_split").select(*keep, row)
    view = f"prescriptions_{uuid.uuid4().hex[:12]}"
    table.createOrReplaceTempView(view)
    return con.table(view)


def read_prescriptions(path: Path | str, con: ibis.BaseBackend | None = None) -> ir.Table:
    """Canonical prescriptions from CSV or Parquet as an engine table of text columns plus ``_row``.

    On DuckDB the file is streamed by the engine (a view over its reader); on Spark the executors read
    it (a file, a folder of files, or a URI such as ``s3a://bucket/prescriptions/``); without `con`, it
    is a memtable on the default DuckDB.
    """
    if con is not None and con.name == "pyspark":
        return _read_with_spark(con, path)
    path = Path(path)
    if con is not None and con.name == "duckdb":
        return _read_with_duckdb(con, path)
    table = read_table_file(path, REQUIRED_COLUMNS, OPTIONAL_COLUMNS)
    return ibis.memtable(table) if con is None else register_arrow(con, table, prefix="prescriptions")


def prescriptions_from_records(records: Sequence[dict[str, object]]) -> ir.Table:
    """Canonical prescriptions from Python dicts (values as text or numbers), in the given order.

    The same typing rules as files: every value becomes text and is cast in the engine.
    """
    names = list(dict.fromkeys([*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, *(k for r in records for k in r)]))
    columns: dict[str, pa.Array] = {}
    for name in names:
        values = [record.get(name) for record in records]
        columns[name] = pa.array([None if v is None else str(v) for v in values], pa.string())
    columns[ROW] = pa.array(range(len(records)), pa.int64())
    return ibis.memtable(pa.table(columns))
