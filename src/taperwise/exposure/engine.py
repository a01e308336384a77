"""Where exposure expressions run, and how their results reach files.

The exposure logic is written once as Ibis expressions; this module is the thin layer that picks the
engine and moves tables in and out. DuckDB (embedded, in memory) is the default. Results stream to disk
in Arrow record batches, so an output larger than memory never has to be held at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from taperwise.errors import UnusableInputError

Engine = Literal["duckdb"]
ENGINES: tuple[str, ...] = ("duckdb",)


@contextmanager
def connect(engine: str = "duckdb") -> Iterator[ibis.BaseBackend]:
    """A fresh backend connection; memtables built by the exposure modules run on it."""
    if engine != "duckdb":
        raise UnusableInputError(f"engine {engine!r} is not available; choose one of {', '.join(ENGINES)}")
    con = ibis.duckdb.connect()
    try:
        yield con
    finally:
        con.disconnect()


def output_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise UnusableInputError(f"{path}: output must end in .csv or .parquet")


def write_result(
    con: ibis.BaseBackend,
    expr: ir.Table,
    path: Path,
    on_batch: Callable[[pa.RecordBatch], None] | None = None,
) -> int:
    """Stream `expr` to a CSV or Parquet file chosen by extension; returns the number of rows written."""
    kind = output_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    reader = con.to_pyarrow_batches(expr, chunk_size=200_000)
    written = 0
    writer: pacsv.CSVWriter | pq.ParquetWriter = (
        pacsv.CSVWriter(path, reader.schema) if kind == "csv" else pq.ParquetWriter(path, reader.schema)
    )
    with writer:
        for raw in reader:
            # Some engines hand back wider physical types than the expression declares (a SUM of
            # integers as DECIMAL(38, 0)); the declared schema is the contract, so cast to it.
            batch = raw.cast(reader.schema)
            if isinstance(writer, pacsv.CSVWriter):
                writer.write_batch(batch)
            else:
                writer.write_table(pa.Table.from_batches([batch]))
            written += batch.num_rows
            if on_batch is not None:
                on_batch(batch)
    return written
