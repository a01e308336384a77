"""Where exposure expressions run, and how their results reach files.

The exposure logic is written once as Ibis expressions; this module is the thin layer that picks the
engine and moves tables in and out. DuckDB (embedded, in memory) is the default. Results stream to disk
in Arrow record batches, so an output larger than memory never has to be held at once.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from ibis.common.exceptions import IbisError

from taperwise.csvsafe import guard_arrow
from taperwise.errors import UnusableInputError
from taperwise.exposure.options import ENGINES
from taperwise.paths import make_folder_for
from taperwise.settings import EngineSettings


def _spark_backend() -> ibis.BaseBackend:
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise UnusableInputError(
            "engine 'spark' needs PySpark: install taperwise with the 'spark' extra (uv sync --extra spark)"
        ) from exc
    settings = EngineSettings.from_environment()
    builder = (
        SparkSession.builder.master(settings.spark_master)
        .appName("taperwise")
        .config("spark.sql.session.timeZone", "UTC")  # dates must not shift with the machine's zone
        .config("spark.sql.ansi.enabled", "true")  # overflow and bad casts fail instead of wrapping
        .config("spark.ui.showConsoleProgress", "false")
    )
    if settings.spark_master.startswith("local"):
        # 200 shuffle partitions (Spark's default) is sized for clusters; on one machine it is pure overhead.
        builder = builder.config("spark.sql.shuffle.partitions", str(max(2, (os.cpu_count() or 2) * 2)))
    for key, value in settings.spark_conf:  # TAPERWISE_SPARK_CONF (cluster deployments)
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return ibis.pyspark.connect(session)


@contextmanager
def connect(engine: str = "duckdb") -> Iterator[ibis.BaseBackend]:
    """A backend connection for the exposure expressions: in-memory DuckDB, or a Spark session."""
    if engine not in ENGINES:
        raise UnusableInputError(f"engine {engine!r} is not available; choose one of {', '.join(ENGINES)}")
    if engine == "spark":
        # The Spark session outlives the call: starting one costs seconds, and tests and the app reuse it.
        yield _spark_backend()
        return
    # DuckDB spills to disk beyond its memory limit; a deployment caps it with TAPERWISE_DUCKDB_MEMORY
    # (e.g. "6GB") so that the registry of a large export fits beside everything else on the machine.
    settings = EngineSettings.from_environment()
    options: dict[str, object] = {}
    if settings.duckdb_memory:
        options["memory_limit"] = settings.duckdb_memory
    if settings.duckdb_threads:
        options["threads"] = settings.duckdb_threads
    con = ibis.duckdb.connect(**options)
    # Every result written here has an explicit order (input row, patient, priority), so DuckDB need not
    # keep insertion order inside a query: it then streams and materialises with less memory.
    con.raw_sql("SET preserve_insertion_order = false")
    try:
        yield con
    finally:
        con.disconnect()


def register_arrow(con: ibis.BaseBackend, table: pa.Table, prefix: str = "taperwise") -> ir.Table:
    """An Arrow table as a table bound to `con`, nulls kept as nulls on every engine."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    if con.name == "pyspark":
        # Through Arrow, not pandas: pandas would turn null strings into the text 'NaN'.
        session = con._session
        session.createDataFrame(table).createOrReplaceTempView(name)
        return con.table(name)
    return con.create_table(name, obj=table, temp=True)


def lookup_table(like: ir.Table, table: pa.Table) -> ir.Table:
    """A small lookup table on the same engine as `like` (a memtable when `like` is not bound)."""
    try:
        backend = like._find_backend()
    except IbisError:  # an expression over memtables only: no backend of its own
        return ibis.memtable(table)
    return register_arrow(backend, table, prefix="lookup")


def output_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise UnusableInputError(f"{path}: output must end in .csv or .parquet")


def sql_name(name: str) -> str:
    """A column or table name quoted for SQL."""
    return '"' + name.replace('"', '""') + '"'


def _duckdb_parquet(con: ibis.BaseBackend, expr: ir.Table, path: Path) -> int:
    """`expr` written to Parquet by DuckDB itself (in parallel, never through Python), each column cast to
    the type the expression declares — the types the Arrow route writes — in the expression's order."""
    from ibis.backends.sql.datatypes import DuckDBType

    columns = ", ".join(
        f"CAST({sql_name(name)} AS {DuckDBType.to_string(dtype)}) AS {sql_name(name)}"
        for name, dtype in expr.schema().items()
    )
    target = str(path).replace("'", "''")
    con._run_pre_execute_hooks(expr)  # registers the in-memory tables the query reads, as Ibis's own runs do
    raw = con.con  # the DuckDB connection behind the Ibis backend
    # An ordered result must land in the file in that order: insertion order is kept for the copy.
    raw.execute("SET preserve_insertion_order = true")
    try:
        raw.execute(f"COPY (SELECT {columns} FROM ({con.compile(expr)})) TO '{target}' (FORMAT parquet)")
    except duckdb.IOException as exc:
        if f'"{path}"' not in str(exc):  # the input's own read error (DuckDB quotes the file it names)
            raise
        raise UnusableInputError(f"{path}: cannot be written ({str(exc).splitlines()[0]})") from exc
    finally:
        raw.execute("SET preserve_insertion_order = false")
    return int(pq.read_metadata(path).num_rows)


def parquet_counts(path: Path, column: str) -> dict[str, int]:
    """How many rows of a Parquet file hold each value of one text column (read alone, in Arrow)."""
    counts = pq.read_table(path, columns=[column]).column(column).value_counts().to_pylist()
    return {count["values"]: int(count["counts"]) for count in counts}


def write_result(
    con: ibis.BaseBackend,
    expr: ir.Table,
    path: Path,
    on_batch: Callable[[pa.RecordBatch], None] | None = None,
) -> int:
    """Stream `expr` to a CSV or Parquet file chosen by extension; returns the number of rows written.

    Parquet on DuckDB is written by DuckDB itself (`_duckdb_parquet`): `on_batch` is then not called,
    as no batch passes through Python. Otherwise batches stream through Arrow and `on_batch` sees each.
    """
    kind = output_format(path)
    created = not path.exists()
    _check_writable(path)
    try:
        return _write(con, expr, path, kind, on_batch)
    except BaseException:
        if created:  # a file this call made and could not fill is not left behind as if it were a result
            path.unlink(missing_ok=True)
        raise


def _write(
    con: ibis.BaseBackend,
    expr: ir.Table,
    path: Path,
    kind: str,
    on_batch: Callable[[pa.RecordBatch], None] | None,
) -> int:
    if kind == "parquet" and con.name == "duckdb":
        return _duckdb_parquet(con, expr, path)
    reader = con.to_pyarrow_batches(expr, chunk_size=200_000)
    written = 0
    try:
        writer: pacsv.CSVWriter | pq.ParquetWriter = (
            pacsv.CSVWriter(path, reader.schema) if kind == "csv" else pq.ParquetWriter(path, reader.schema)
        )
        with writer:
            for raw in reader:
                # Some engines hand back wider physical types than the expression declares (a SUM of
                # integers as DECIMAL(38, 0)); the declared schema is the contract, so cast to it.
                batch = raw.cast(reader.schema)
                if isinstance(writer, pacsv.CSVWriter):
                    writer.write_batch(guard_arrow(batch))  # formula-looking text shown as text (csvsafe.py)
                else:
                    writer.write_table(pa.Table.from_batches([batch]))
                written += batch.num_rows
                if on_batch is not None:
                    on_batch(batch)
    except OSError as exc:  # the disk filled or the file went away while writing
        raise UnusableInputError(f"{path}: cannot be written ({exc})") from exc
    return written


def _check_writable(path: Path) -> None:
    """Refuse, naming the output, a file that cannot be written there, before any work is done for it.
    An existing file is opened to append, so nothing in it is lost by the check."""
    make_folder_for(path)
    try:
        with path.open("ab"):
            pass
    except OSError as exc:
        raise UnusableInputError(f"{path}: cannot be written ({exc.strerror or exc})") from exc
