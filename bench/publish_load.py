"""One publish benchmark run, in its own process: python -m bench.publish_load APPROACH URL FOLDER.

- ``taperwise_publish``: what `taperwise registry … --publish` does once the registry is written —
  `taperwise.commands.store.publish` with the registry's own per-row MME rows: every file read in
  batches, every row parsed and checked, inserted CHUNK rows at a time, all in one transaction, audited.
- ``bulk_load``: the baseline — the same rows into the same migrated tables in one transaction with the
  driver alone and no checks: COPY (CSV written by Arrow) on PostgreSQL, executemany of plain tuples on
  SQLite. Store ids are assigned by the loader itself.

FOLDER holds the files of bench/publish_data.py. Prints approach, seconds, peak MB (VmHWM: the peak
resident memory of this process since it started; the PostgreSQL server's own memory is not in it) and the
rows the snapshot holds afterwards.
"""

from __future__ import annotations

import datetime as dt
import io
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bench.memory import peak_mb
from bench.publish_data import RegistryOutput
from taperwise.commands.store import publish
from taperwise.store import open_store
from taperwise.store.models import PrescriptionRecord, RegistryEntry, RegistrySnapshot, TrajectorySegment
from taperwise.store.publish import ENTRY_FIELDS, PRESCRIPTION_FIELDS, SEGMENT_FIELDS

ORG = "BENCH"
BATCH = 50_000  # rows per COPY or executemany of the baseline
FROM_PRESCRIPTIONS = ("drug", "days_supply", "quantity", "prescriber_id", "pharmacy_id")


def _output(folder: Path) -> RegistryOutput:
    rows = pq.ParquetFile(folder / "mme.parquet").metadata.num_rows
    patients = pq.ParquetFile(folder / "registry.parquet").metadata.num_rows
    return RegistryOutput(folder, patients, rows)


def taperwise_publish(url: str, output: RegistryOutput) -> None:
    publish(output.registry, url, ORG, prescriptions=output.prescriptions_file, mme_rows=output.mme_rows)


def _batches(path: Path, columns: list[str]) -> Iterator[pa.RecordBatch]:
    yield from pq.ParquetFile(path).iter_batches(batch_size=BATCH, columns=columns)


def _aligned(left: Iterator[pa.RecordBatch], right: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Two files of the same rows in the same order, as batches holding both files' columns."""
    a = b = None
    while True:
        a = a if a is not None and a.num_rows else next(left, None)
        b = b if b is not None and b.num_rows else next(right, None)
        if a is None or b is None:
            return
        n = min(a.num_rows, b.num_rows)
        both = {name: a.column(name).slice(0, n) for name in a.schema.names}
        both |= {name: b.column(name).slice(0, n) for name in b.schema.names}
        yield pa.RecordBatch.from_pydict(both)
        a, b = a.slice(n), b.slice(n)


class _Loader:
    """Rows into one table of an open transaction, by the driver alone."""

    def __init__(self, connection: Any, postgres: bool) -> None:
        self.connection = connection
        self.postgres = postgres
        self.now = dt.datetime.now(dt.UTC).replace(tzinfo=None)

    def scalar(self, sql: str, *args: object) -> Any:
        mark = "%s" if self.postgres else "?"
        return self.connection.execute(sql.replace("?", mark), args).fetchone()[0]

    def load(self, table: str, batch: pa.RecordBatch) -> None:
        if self.postgres:
            text = io.BytesIO()
            pacsv.write_csv(batch, text, pacsv.WriteOptions(include_header=False))
            with self.connection.cursor().copy(
                f"COPY {table} ({', '.join(batch.schema.names)}) FROM STDIN (FORMAT csv)"
            ) as copy:
                copy.write(text.getvalue())
            return
        columns = []
        for column in batch.columns:
            if pa.types.is_decimal(column.type):
                column = column.cast(pa.float64())
            elif pa.types.is_date(column.type) or pa.types.is_timestamp(column.type):
                column = column.cast(pa.string())
            columns.append(column.to_pylist())
        marks = ", ".join("?" * batch.num_columns)
        self.connection.executemany(
            f"INSERT INTO {table} ({', '.join(batch.schema.names)}) VALUES ({marks})",
            zip(*columns, strict=True),
        )

    def with_keys(self, batch: pa.RecordBatch, snapshot: int, ids: dict[str, int]) -> pa.RecordBatch:
        """The batch with the snapshot, the patient's store id and created_at (and no patient_id text)."""
        patient = pa.array([ids[p] for p in batch.column("patient_id").to_pylist()], pa.int64())
        columns = {name: batch.column(name) for name in batch.schema.names if name != "patient_id"}
        columns |= {
            "snapshot_id": pa.nulls(batch.num_rows, pa.int64()).fill_null(snapshot),
            "patient_id": patient,
            "created_at": pa.array([self.now] * batch.num_rows, pa.timestamp("us")),
        }
        return pa.RecordBatch.from_pydict(columns)


def bulk_load(url: str, output: RegistryOutput) -> None:
    parsed = make_url(url)
    postgres = parsed.get_backend_name() == "postgresql"
    if postgres:
        connection: Any = psycopg.connect(
            host=parsed.host, port=parsed.port, user=parsed.username, dbname=parsed.database
        )
    else:
        connection = sqlite3.connect(str(parsed.database), isolation_level=None)
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute("BEGIN")
    loader = _Loader(connection, postgres)
    now = loader.now.isoformat(sep=" ")
    organisation = loader.scalar(
        "INSERT INTO organisations (code, name, kind, created_at) VALUES (?, ?, 'practice', ?) RETURNING id",
        ORG,
        ORG,
        now,
    )
    snapshot = loader.scalar(
        "INSERT INTO registry_snapshots (organisation_id, as_of, factor_set, metadata_json, "
        "source_sha256, published_at, patients, problems_json, created_at) "
        "VALUES (?, '2025-12-31', 'cdc-2022@2022.1', '{}', '', ?, ?, '[]', ?) RETURNING id",
        organisation,
        now,
        output.patients,
        now,
    )
    first = int(loader.scalar("SELECT coalesce(max(id), 0) + 1 FROM patients"))
    ids: dict[str, int] = {}
    for batch in _batches(output.registry, ["patient_id"]):
        external = batch.column("patient_id").to_pylist()
        numbers = list(range(first + len(ids), first + len(ids) + len(external)))
        ids.update(zip(external, numbers, strict=True))
        patients = {
            "id": pa.array(numbers, pa.int64()),
            "organisation_id": pa.nulls(len(numbers), pa.int64()).fill_null(organisation),
            "external_id": batch.column("patient_id"),
            "pseudonym": pa.array([f"B-{n:010X}" for n in numbers]),
            "in_program": pa.nulls(len(numbers), pa.bool_()).fill_null(False),
            "created_at": pa.array([loader.now] * len(numbers), pa.timestamp("us")),
        }
        loader.load("patients", pa.RecordBatch.from_pydict(patients))
    entries = [name for name in pq.ParquetFile(output.registry).schema_arrow.names if name in ENTRY_FIELDS]
    for batch in _batches(output.registry, ["patient_id", *entries]):
        loader.load("registry_entries", loader.with_keys(batch, snapshot, ids))
    for batch in _batches(output.segments, ["patient_id", *SEGMENT_FIELDS]):
        loader.load("trajectory_segments", loader.with_keys(batch, snapshot, ids))
    from_mme = [name for name in PRESCRIPTION_FIELDS if name not in FROM_PRESCRIPTIONS]
    rows = _aligned(
        _batches(output.mme_rows, ["patient_id", *from_mme]),
        _batches(output.prescriptions_file, list(FROM_PRESCRIPTIONS)),
    )
    for batch in rows:
        quantity = batch.column("quantity")
        fixed = batch.set_column(
            batch.schema.get_field_index("quantity"), "quantity", pc.cast(quantity, pa.decimal128(18, 4))
        )
        loader.load("prescription_records", loader.with_keys(fixed, snapshot, ids))
    connection.execute("COMMIT") if not postgres else connection.commit()
    connection.close()


APPROACHES = {"taperwise_publish": taperwise_publish, "bulk_load": bulk_load}


def loaded_rows(url: str) -> int:
    """Registry entries, segments and prescription rows of the organisation's current snapshot."""
    store = open_store(url, migrate=False)
    with store.session() as s:
        snapshot = s.scalar(select(func.max(RegistrySnapshot.id)))
        total = sum(
            s.scalar(select(func.count()).select_from(model).where(model.snapshot_id == snapshot)) or 0
            for model in (RegistryEntry, TrajectorySegment, PrescriptionRecord)
        )
    store.close()
    return total


def main() -> None:
    approach, url, folder = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    output = _output(folder)
    began = time.perf_counter()
    APPROACHES[approach](url, output)
    seconds = time.perf_counter() - began
    print(f"{approach}\t{seconds:.3f}\t{peak_mb():.0f}\t{loaded_rows(url)}")


if __name__ == "__main__":
    main()
