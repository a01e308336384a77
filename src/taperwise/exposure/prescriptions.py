"""Canonical prescriptions: reading them from CSV or Parquet into an engine table.

Every column is read as text and cast inside the engine with ``try_cast``, so a malformed value in one row
becomes a reported problem on that row instead of an error that stops the whole file. A file is refused
only when it cannot be used at all (missing, unreadable, a required column absent); the message names
the file and the problem. Input order is kept in ``_row`` because the ``mme`` command answers row by row.
"""

from __future__ import annotations

import csv
import gzip
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb
import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from taperwise.canonical import PRESCRIPTION_OPTIONAL, PRESCRIPTION_REQUIRED
from taperwise.csvsafe import GUARDED_PATTERN, unguard_sql
from taperwise.errors import UnusableInputError
from taperwise.exposure.engine import register_arrow, sql_name

REQUIRED_COLUMNS = PRESCRIPTION_REQUIRED
OPTIONAL_COLUMNS = PRESCRIPTION_OPTIONAL
ROW = "_row"
# Text naming a CSV row whose number of fields differs from the header's (null on good rows): its values
# may sit in the wrong columns, so the row is reported and never read as a prescription.
READ_PROBLEM_COLUMN = "_read_problem"
READ_PROBLEM = (
    " does not have the {fields} fields of the header: its values may be shifted, so it is not read"
)
CSV_SUFFIXES = (".csv", ".txt", ".gz", ".tsv")  # .tsv: tab-separated, otherwise the same dialect
EXTRA_FIELDS = 8  # spare columns that catch a row's surplus fields; more than this refuses the file
MISSING_FIELD = "\u2400missing\u2400"  # never in real data: lets DuckDB tell a missing field from ''


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


def read_table_batches(
    path: Path, required: Sequence[str], optional: Sequence[str], batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """A CSV or Parquet file in batches of at most `batch_rows` rows, never held whole: all-text columns
    named in lower case, missing optional columns as nulls, unknown columns kept, ``_row`` (0-based) and
    ``_read_problem``. At least one batch (empty for an empty file), so its columns are always known.

    CSV goes through the same DuckDB SELECT as the prescriptions reader, so a row with the wrong number of
    fields is reported on that row (READ_PROBLEM) instead of failing the file; Parquet is read a row
    group at a time. A file that cannot be used is refused (UnusableInputError) when the first batch is
    asked for.
    """
    if not path.exists():
        raise UnusableInputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        with duckdb.connect() as connection, read_errors(path):
            connection.execute("SET enable_progress_bar = false")  # a long file must not print a bar
            select = _duckdb_select(connection, path, required, optional)
            reader = connection.execute(select).to_arrow_reader(batch_rows)
            yielded = False
            for batch in reader:
                yielded = True
                yield batch
            if not yielded:
                yield pa.RecordBatch.from_pylist([], schema=reader.schema)
        return
    if suffix not in (".parquet", ".pq"):
        raise UnusableInputError(f"{path}: unknown file type {suffix!r}; use .csv or .parquet")
    try:
        parquet = pq.ParquetFile(path)
        names = checked_column_names(path, parquet.schema_arrow.names, required)
        offset = 0
        batches = parquet.iter_batches(batch_size=batch_rows)
        for raw in batches if parquet.metadata.num_rows else [parquet.schema_arrow.empty_table()]:
            columns = {name: _as_text(raw.column(i)) for i, name in enumerate(names)}
            for name in optional:
                columns.setdefault(name, pa.nulls(raw.num_rows, pa.string()))
            columns[ROW] = pa.array(range(offset, offset + raw.num_rows), pa.int64())
            # Parquet rows always have their columns: no read problem
            columns[READ_PROBLEM_COLUMN] = pa.nulls(raw.num_rows, pa.string())
            offset += raw.num_rows
            yield pa.RecordBatch.from_pydict(columns)
    except (pa.ArrowInvalid, OSError) as exc:
        raise UnusableInputError(f"{path}: cannot be read ({_first_line(exc)})") from exc


def read_table_file(path: Path, required: Sequence[str], optional: Sequence[str]) -> pa.Table:
    """A CSV or Parquet file whole, the columns `read_table_batches` gives (for a file the caller holds
    in memory anyway; publishing streams the batches instead)."""
    return pa.Table.from_batches(list(read_table_batches(path, required, optional, 200_000)))


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        trimmed = pc.utf8_trim_whitespace(column.cast(pa.string()))
        return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)  # blank is missing
    if pa.types.is_date(column.type) or pa.types.is_timestamp(column.type):
        return pc.strftime(column, format="%Y-%m-%d")
    return column.cast(pa.string())


@contextmanager
def read_errors(path: Path | str) -> Iterator[None]:
    """Turn an error the engine raises while reading `path` into a refusal naming the file.

    DuckDB reads lazily: a CSV line it cannot split at all (more surplus fields than EXTRA_FIELDS) fails
    only when a query runs, after the checks at opening.
    """
    try:
        yield
    except duckdb.Error as exc:
        raise UnusableInputError(f"{path}: cannot be read ({_first_line(exc)})") from exc


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _csv_header(path: Path, delimiter: str = ",") -> list[str]:
    """The header row's names, read as RFC 4180 CSV (quoted names, a byte-order mark, CRLF)."""
    if path.stat().st_size == 0:
        raise UnusableInputError(f"{path}: the file is empty (a header row is required)")
    try:
        with (gzip.open(path, "rt", encoding="utf-8-sig", newline="") if path.suffix.lower() == ".gz"
              else path.open(encoding="utf-8-sig", newline="")) as handle:  # fmt: skip
            header = next(csv.reader(handle, delimiter=delimiter), [])
    except (UnicodeDecodeError, OSError, csv.Error) as exc:
        raise UnusableInputError(f"{path}: cannot be read ({_first_line(exc)})") from exc
    if not header:
        raise UnusableInputError(f"{path}: the first line is empty (a header row is required)")
    return header


def _duckdb_scan(path: Path) -> tuple[str, list[str], str | None]:
    """A DuckDB table function that streams the file, its column names, and a read-problem expression.

    Rows carry a 0-based row number ``_file_row``. For CSV the dialect is fixed (comma, RFC 4180 quotes)
    and the row is read into the header's columns plus EXTRA_FIELDS spare ones, so that a row with more
    fields than the header fills a spare one and a row with fewer leaves a header column NULL (an empty
    field is '' here: NULL is reserved for a missing one). The expression names such a row.
    """
    if path.is_dir():
        raise UnusableInputError(
            f"{path}: is a folder; DuckDB reads one .csv or .parquet file (a folder of Parquet files, or a "
            "URI, is read with --engine spark)"
        )
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        scan = f"read_parquet({_sql_text(str(path))}, file_row_number = true)"
        return f"(SELECT *, file_row_number AS _file_row FROM {scan})", _parquet_names(path, scan), None
    if suffix not in CSV_SUFFIXES:
        raise UnusableInputError(f"{path}: unknown file type {suffix!r}; use .csv or .parquet")
    delimiter = "\t" if suffix == ".tsv" else ","
    names = _csv_header(path, delimiter)
    spare = [f"_spare_{n}" for n in range(EXTRA_FIELDS)]
    columns = ", ".join(
        f"{_sql_text(n)}: 'VARCHAR'" for n in [*(f"_c{i}" for i in range(len(names))), *spare]
    )
    scan = (
        f"read_csv({_sql_text(str(path))}, header = true, auto_detect = false, "
        f"delim = {_sql_text(delimiter)}, quote = '\"', "
        f"escape = '\"', null_padding = true, nullstr = {_sql_text(MISSING_FIELD)}, columns = {{{columns}}})"
    )
    renamed = ", ".join(f"{sql_name(f'_c{i}')} AS {sql_name(name)}" for i, name in enumerate(names))
    ragged = " OR ".join(
        [*(f"{sql_name(f'_c{i}')} IS NULL" for i in range(len(names))), *(f"{c} IS NOT NULL" for c in spare)]
    )
    problem = (
        f"CASE WHEN {ragged} THEN 'input row ' || CAST(_file_row + 1 AS VARCHAR) || "
        f"{_sql_text(READ_PROBLEM.format(fields=len(names)))} END"
    )
    # row_number() over () is DuckDB's order-preserving streaming window.
    return (
        f"(SELECT {renamed}, *, row_number() OVER () - 1 AS _file_row FROM {scan})",
        names,
        problem,
    )


def csv_relation(path: Path) -> str:
    """A CSV (or, by its name, tab-separated) file as a DuckDB relation: its header's columns, as written,
    and the ``_read_problem`` of each row (see `_duckdb_scan`), for readers that map columns themselves."""
    scan, names, problem = _duckdb_scan(path)
    columns = ", ".join(sql_name(name) for name in names)
    return f"(SELECT {columns}, {problem} AS {READ_PROBLEM_COLUMN} FROM {scan})"


def _parquet_names(path: Path, scan: str) -> list[str]:
    try:
        with duckdb.connect() as connection:
            rows = connection.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()
    except duckdb.Error as exc:
        raise UnusableInputError(f"{path}: cannot be read ({_first_line(exc)})") from exc
    return [row[0] for row in rows if row[0] != "file_row_number"]


def _duckdb_select(
    connection: duckdb.DuckDBPyConnection, path: Path, required: Sequence[str], optional: Sequence[str]
) -> str:
    """SELECT of the file as trimmed text columns in lower case, ``_row`` and ``_read_problem``."""
    if not path.exists():
        raise UnusableInputError(f"{path}: no such file")
    scan, names, problem = _duckdb_scan(path)
    lowered = checked_column_names(path, names, required)
    # A CSV's formula guard (csvsafe.py, ADR 0015) comes off, so a CSV reads as the Parquet would.
    text = "NULLIF(trim(CAST({} AS VARCHAR)), '')"
    is_csv = path.suffix.lower() in CSV_SUFFIXES

    def read(name: str) -> str:
        return unguard_sql(text.format(name)) if is_csv else text.format(name)

    columns = [f"{read(sql_name(name))} AS {sql_name(low)}" for name, low in zip(names, lowered, strict=True)]
    columns += [f"CAST(NULL AS VARCHAR) AS {sql_name(name)}" for name in optional if name not in lowered]
    columns += [f"_file_row AS {ROW}", f"{problem or 'CAST(NULL AS VARCHAR)'} AS {READ_PROBLEM_COLUMN}"]
    select = f"SELECT {', '.join(columns)} FROM {scan}"
    try:
        connection.execute(f"DESCRIBE {select}")
    except duckdb.Error as exc:
        raise UnusableInputError(f"{path}: cannot be read ({_first_line(exc)})") from exc
    return select


def _read_with_duckdb(con: ibis.BaseBackend, path: Path) -> ir.Table:
    """The file as a view on `con`: read by DuckDB as it is queried, never held whole in Python."""
    raw = con.con  # the DuckDB connection behind the Ibis backend
    select = _duckdb_select(raw, path, REQUIRED_COLUMNS, OPTIONAL_COLUMNS)
    view = f"prescriptions_{uuid.uuid4().hex[:12]}"
    raw.execute(f"CREATE TEMP VIEW {view} AS {select}")
    return con.table(view)


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
    corrupt = "_corrupt_row"
    fields: int | None = None
    try:
        if kind == "parquet":
            frame = session.read.parquet(location)
        else:
            # RFC 4180 quoting, as DuckDB and Arrow read and write it: a quote inside a field is doubled.
            options = {"header": True, "inferSchema": False, "quote": '"', "escape": '"'}
            header = session.read.options(**options).csv(location).columns
            fields = len(header)
            # A row whose number of fields differs from the header's lands in the corrupt-record column.
            schema = T.StructType([T.StructField(name, T.StringType()) for name in [*header, corrupt]])
            options |= {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": corrupt}
            frame = session.read.options(**options).schema(schema).csv(location)
    except AnalysisException as exc:
        raise UnusableInputError(f"{location}: cannot be read ({_first_line(exc)})") from exc
    data = [field for field in frame.schema.fields if field.name != corrupt]
    lowered = checked_column_names(Path(location), [field.name for field in data], REQUIRED_COLUMNS)
    columns = []
    for field, low in zip(data, lowered, strict=True):
        value = F.col(f"`{field.name}`")
        if isinstance(field.dataType, T.DateType | T.TimestampType):
            text = F.date_format(value, "yyyy-MM-dd")
        else:
            text = F.trim(value.cast("string"))
            if kind == "csv":  # the formula guard of a CSV (csvsafe.py) comes off
                guarded = text.rlike(GUARDED_PATTERN)
                text = F.when(guarded, F.substring(text, 2, 1 << 30)).otherwise(text)
        columns.append(F.when(text != "", text).alias(low))  # a blank value is a missing one
    columns += [F.lit(None).cast("string").alias(name) for name in OPTIONAL_COLUMNS if name not in lowered]
    ragged = F.col(corrupt).isNotNull() if fields is not None else F.lit(False)
    columns.append(ragged.alias("_ragged"))
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
    row = F.col("_offset") + F.col("_id") - F.shiftleft(F.col("_split").cast("long"), 33)
    keep = [c for c in numbered.columns if c not in ("_split", "_id", "_ragged")]
    message = F.concat(
        F.lit("input row "), (row + 1).cast("string"), F.lit(READ_PROBLEM.format(fields=fields))
    )
    problem = F.when(F.col("_ragged"), message).otherwise(F.lit(None).cast("string"))
    joined = numbered.join(F.broadcast(starts), "_split")
    table = joined.select(*keep, row.alias(ROW), problem.alias(READ_PROBLEM_COLUMN))
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


def prescription_arrow(records: Sequence[Mapping[str, object]]) -> pa.Table:
    """Canonical prescriptions from Python dicts (values as text or numbers) as the all-text Arrow table
    the engine reads, in the given order, with ``_row`` and ``_read_problem``: every canonical column,
    then any other key the records have."""
    names = list(dict.fromkeys([*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, *(k for r in records for k in r)]))
    columns: dict[str, pa.Array] = {}
    for name in names:
        values = [record.get(name) for record in records]
        columns[name] = pa.array([None if v is None else str(v) for v in values], pa.string())
    columns[ROW] = pa.array(range(len(records)), pa.int64())
    columns[READ_PROBLEM_COLUMN] = pa.nulls(len(records), pa.string())
    return pa.table(columns)


def prescriptions_from_records(records: Sequence[Mapping[str, object]]) -> ir.Table:
    """Canonical prescriptions from Python dicts (values as text or numbers), in the given order.

    The same typing rules as files: every value becomes text and is cast in the engine.
    """
    return ibis.memtable(prescription_arrow(records))
