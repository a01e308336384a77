"""Publishing streams: files are read a batch at a time and rows go in CHUNK at a time, never a whole file.

The proofs count, they never time: a reader that fails the test when more rows are in flight (read but not
yet inserted) than one batch and one INSERT's worth, and a listener that counts the rows of every INSERT
(and of every COPY, PostgreSQL's path).
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from bench.publish_data import RegistryOutput, write_registry_output
from sqlalchemy import Engine, event, func, select, text
from typer.testing import CliRunner

from taperwise.cli import app
from taperwise.errors import UnusableInputError
from taperwise.exposure.prescriptions import (
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    read_table_file,
)
from taperwise.store import Store, open_store
from taperwise.store import publish as publishing
from taperwise.store import repositories as repo
from taperwise.store.models import (
    Patient,
    PrescriptionRecord,
    RegistryEntry,
    RegistrySnapshot,
    TrajectorySegment,
)
from tests.store.helpers import publish_example

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "prescriptions.csv"
TABLES = ("registry_entries", "trajectory_segments", "prescription_records", "patients")


def _rows(statement: str, parameters: Any, many: bool) -> int:
    """Rows of one INSERT: an executemany's parameter sets, or the VALUES groups of a multi-row INSERT
    (SQLAlchemy's insertmanyvalues, used with RETURNING), whose parameters come flat."""
    if not many:
        return 1
    if isinstance(parameters, list) and parameters and isinstance(parameters[0], tuple | list | dict):
        return len(parameters)
    columns = statement[statement.index("(") + 1 : statement.index(")")].count(",") + 1
    return len(parameters) // columns


class Inserts:
    """Rows of every INSERT the store sends, per table, in the order they are sent."""

    def __init__(self) -> None:
        self.batches: dict[str, list[int]] = {table: [] for table in TABLES}
        self.log: list[tuple[str, str, int]] = []  # ("insert", table, rows) and ("read", file, rows)

    def __call__(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        for table in TABLES:
            if statement.lstrip().upper().startswith(f"INSERT INTO {table.upper()} "):
                rows = _rows(statement, parameters, many)
                self.batches[table].append(rows)
                self.log.append(("insert", table, rows))

    def rows(self, table: str) -> int:
        return sum(self.batches[table])


@pytest.fixture
def inserts(monkeypatch: pytest.MonkeyPatch) -> Iterator[Inserts]:
    counted = Inserts()
    event.listen(Engine, "before_cursor_execute", counted)  # every engine, the command's own too
    real_copy = publishing._copy

    def copy(s: Any, table: Any, rows: list[dict[str, Any]]) -> None:  # PostgreSQL's COPY, counted once sent
        real_copy(s, table, rows)
        counted.batches[table.name].append(len(rows))
        counted.log.append(("insert", table.name, len(rows)))

    monkeypatch.setattr(publishing, "_copy", copy)
    yield counted
    event.remove(Engine, "before_cursor_execute", counted)


def guarded_reader(
    monkeypatch: pytest.MonkeyPatch, inserts: Inserts, bound: int, tables: dict[str, str]
) -> dict[str, list[int]]:
    """Replace publish's reader with one that checks, before handing out each batch, that at most `bound`
    rows of the file are in flight (handed out but not yet inserted into its table); returns the batch
    sizes handed out per file name."""
    real = publishing.read_batches
    handed: dict[str, list[int]] = {}

    def read(path: Path, required: Sequence[str], optional: Sequence[str] = ()) -> Iterator[pa.RecordBatch]:
        sizes = handed.setdefault(path.name, [])
        for batch in real(path, required, optional):
            table = tables.get(path.name)
            if table is not None:
                in_flight = sum(sizes) - inserts.rows(table)
                assert in_flight <= bound, f"{path.name}: {in_flight} rows held before its next batch"
            sizes.append(batch.num_rows)
            inserts.log.append(("read", path.name, batch.num_rows))
            yield batch

    monkeypatch.setattr(publishing, "read_batches", read)
    return handed


def _publish_files(store: Store, output: RegistryOutput, org: str = "ORG-S") -> int:
    with store.session() as s:
        snapshot = repo.publish_registry(
            s, output.registry, output.metadata, output.segments, output.mme_rows, None, org,
            prescriptions_path=output.prescriptions_file,
        )  # fmt: skip
        return snapshot.id


def test_publishing_reads_batch_by_batch_and_inserts_chunk_by_chunk(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inserts: Inserts
) -> None:
    chunk = 16
    output = write_registry_output(tmp_path / "run", 1_000)  # 100 patients, every row loaded
    monkeypatch.setattr(publishing, "CHUNK", chunk)
    files = {
        output.registry.name: "registry_entries",
        output.segments.name: "trajectory_segments",
        output.mme_rows.name: "prescription_records",
        output.prescriptions_file.name: "prescription_records",
    }
    handed = guarded_reader(monkeypatch, inserts, 2 * chunk, files)
    snapshot = _publish_files(store, output)

    for name in files:
        assert handed[name], f"{name} was not read"
        assert max(handed[name]) <= chunk, f"{name}: a batch bigger than CHUNK"
    expected = {
        "registry_entries": output.patients,
        "trajectory_segments": output.prescriptions,
        "prescription_records": output.prescriptions,
        "patients": output.patients,
    }
    for table, rows in expected.items():
        assert inserts.rows(table) == rows
        assert max(inserts.batches[table]) <= chunk, f"{table}: an INSERT of more than CHUNK rows"
        assert len(inserts.batches[table]) == math.ceil(rows / chunk)
    with store.session() as s:
        for model, table in ((RegistryEntry, "registry_entries"), (TrajectorySegment, "trajectory_segments"),
                             (PrescriptionRecord, "prescription_records")):  # fmt: skip
            count = s.scalar(select(func.count()).select_from(model).where(model.snapshot_id == snapshot))
            assert count == expected[table]
        source = pq.read_table(output.prescriptions_file).slice(123, 1).to_pylist()[0]
        record = s.scalars(
            select(PrescriptionRecord).where(PrescriptionRecord.rx_id == source["rx_id"])
        ).one()
        assert (record.drug, record.prescriber_id) == (source["drug"], source["prescriber_id"])  # by position
        assert s.get_one(RegistrySnapshot, snapshot).patients == output.patients


def test_registry_publish_streams_the_registrys_own_rows_in_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inserts: Inserts
) -> None:
    """`registry --publish`: the per-row MME the engine kept is read back a batch at a time, and its rows
    are inserted while later batches are still unread."""
    chunk = 4
    monkeypatch.setattr(publishing, "CHUNK", chunk)
    handed = guarded_reader(monkeypatch, inserts, 10**9, {})
    url = f"sqlite:///{tmp_path / 'app.db'}"
    args = ["registry", str(EXAMPLE), "--as-of", "2025-03-31", "-o", str(tmp_path / "registry.csv"),
            "--publish", "--db", url, "--org", "ORG-R"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output

    assert len(handed["mme.parquet"]) > 1
    assert max(handed["mme.parquet"]) <= chunk
    assert len(handed["prescriptions.csv"]) > 1
    assert max(handed["prescriptions.csv"]) <= chunk
    assert sum(handed["mme.parquet"]) == 33  # one row per prescription, all of them read
    batches = inserts.batches["prescription_records"]
    assert len(batches) > 1
    assert max(batches) <= chunk
    first_insert = inserts.log.index(("insert", "prescription_records", batches[0]))
    mme_reads = [
        i for i, (kind, name, _) in enumerate(inserts.log) if kind == "read" and name == "mme.parquet"
    ]
    assert first_insert < mme_reads[-1], "prescription rows were held until the whole file was read"
    store = open_store(url)
    with store.session() as s:
        loaded = s.scalar(select(func.count()).select_from(PrescriptionRecord))
    store.close()
    assert loaded == sum(batches)


def test_a_refusal_after_rows_were_sent_leaves_nothing_published(
    store: Store, registry_files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    inserts: Inserts,
) -> None:  # fmt: skip
    """One transaction: prescriptions that stop matching late in the file refuse the publish after chunks
    of entries, segments and prescriptions were inserted, and none of them stays; the previous snapshot
    stays current."""
    before = publish_example(store, registry_files, "ORG-A")
    monkeypatch.setattr(publishing, "CHUNK", 2)
    lines = registry_files["prescriptions"].read_text(encoding="utf-8").splitlines()
    assert lines[-2].startswith("S009,S009-02,")  # the last row of a patient in the registry
    lines[-2] = lines[-2].replace("S009-02", "SWAPPED")
    changed = tmp_path / "prescriptions.csv"
    changed.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with store.session() as s:
        patients_before = s.scalar(select(func.count()).select_from(Patient))
    with pytest.raises(UnusableInputError, match="does not match"), store.session() as s:
        repo.publish_registry(
            s, registry_files["registry"], registry_files["metadata"], registry_files["segments"],
            registry_files["mme"], None, "ORG-A", prescriptions_path=changed,
        )  # fmt: skip
    assert inserts.rows("prescription_records") > 2 * 2, "the refusal came after rows had been sent"
    with store.session() as s:
        assert s.scalars(select(RegistrySnapshot.id)).all() == [before]
        assert s.get_one(RegistrySnapshot, before).superseded_at is None
        assert s.scalar(select(func.count()).select_from(Patient)) == patients_before
        for model in (RegistryEntry, TrajectorySegment, PrescriptionRecord):
            assert set(s.scalars(select(model.snapshot_id))) == {before}


def test_a_patient_left_out_of_the_next_registry_gets_no_rows_in_its_snapshot(
    store: Store, registry_files: dict[str, Path], tmp_path: Path
) -> None:
    """Segments and prescriptions are loaded for the snapshot's own patients, not for every patient the
    organisation has had (S001 was in the first registry, not in the second)."""
    publish_example(store, registry_files, "ORG-A")
    with registry_files["registry"].open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    without = tmp_path / "registry.csv"
    with without.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(row for row in rows if row["patient_id"] != "S001")
    with store.session() as s:
        second = repo.publish_registry(
            s, without, registry_files["metadata"], registry_files["segments"], registry_files["mme"], None,
            "ORG-A", prescriptions_path=registry_files["prescriptions"],
        ).id  # fmt: skip
    with store.session() as s:
        s001 = s.scalars(select(Patient.id).where(Patient.external_id == "S001")).one()
        assert (
            s.scalar(
                select(func.count()).select_from(RegistryEntry).where(RegistryEntry.snapshot_id == second)
            )
            == 8
        )
        for model in (TrajectorySegment, PrescriptionRecord):
            held = select(func.count()).select_from(model)
            assert s.scalar(held.where(model.snapshot_id == second, model.patient_id == s001)) == 0
            assert s.scalar(held.where(model.snapshot_id == second)) > 0


def _whole(batches: Iterator[pa.RecordBatch]) -> list[dict[str, Any]]:
    return [row for batch in batches for row in batch.to_pylist()]


def test_the_batch_reader_gives_the_rows_the_whole_file_reader_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same text, row numbers, read problems and extra columns as `read_table_file`, from CSV (a ragged
    row too) and from typed Parquet (dates, numbers, blank text), in batches of any size."""
    monkeypatch.setattr(publishing, "CHUNK", 5)
    ragged = tmp_path / "ragged.csv"
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    lines[7] += ",surplus"
    ragged.write_text("\n".join(lines) + "\n", encoding="utf-8")
    typed = tmp_path / "typed.parquet"
    pq.write_table(
        pa.table({
            "Patient_ID": ["p1", "p2", " ", "p4", "p5", "p6", "p7"],
            "rx_id": pa.array([1, 2, 3, 4, 5, 6, 7], pa.int64()),
            "drug": ["Oxycodone 5 MG Oral Tablet", None, "  padded  ", "", "a", "b", "c"],
            "start_date": pa.array([20089, 20090, None, 20092, 20093, 20094, 20095], pa.date32()),
            "days_supply": pa.array([30.0, 7.5, None, 1.0, 2.0, 3.0, 4.0], pa.float64()),
            "quantity": pa.array([60, 15, 0, 1, 2, 3, 4], pa.int32()),
            "note": ["x", "y", "z", "w", "v", "u", "t"],
        }),
        typed,
        row_group_size=3,
    )  # fmt: skip
    for path in (EXAMPLE, ragged, typed):
        whole = read_table_file(path, REQUIRED_COLUMNS, OPTIONAL_COLUMNS).to_pylist()
        streamed = _whole(publishing.read_batches(path, REQUIRED_COLUMNS, OPTIONAL_COLUMNS))
        assert streamed == whole, path.name
    assert any(row["_read_problem"] for row in _whole(publishing.read_batches(ragged, ("rx_id",))))


def test_a_file_the_batch_reader_cannot_use_is_refused_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "registry.csv"
    with pytest.raises(UnusableInputError, match=r"registry\.csv: no such file"):
        next(publishing.read_batches(missing, ("patient_id",)))
    broken = tmp_path / "registry.parquet"
    broken.write_bytes(b"not parquet at all")
    with pytest.raises(UnusableInputError, match=r"registry\.parquet: cannot be read"):
        next(publishing.read_batches(broken, ("patient_id",)))
    columns = tmp_path / "segments.parquet"
    pq.write_table(pa.table({"patient": ["p1"]}), columns)
    with pytest.raises(UnusableInputError, match="required column"):
        next(publishing.read_batches(columns, ("patient_id",)))


def _published(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every published row of every table, without store ids and times, in a stable order."""
    skip = {"id", "snapshot_id", "patient_id", "created_at"}
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with store.session() as s:
        for model in (RegistryEntry, TrajectorySegment, PrescriptionRecord):
            columns = [c for c in model.__table__.columns if c.name not in skip]
            query = select(Patient.external_id, *columns).join(Patient, Patient.id == model.patient_id)
            rows = s.execute(query)
            tables[model.__tablename__] = sorted((tuple(row) for row in rows), key=repr)
        stamps = s.scalars(select(PrescriptionRecord.created_at)).all()
        assert stamps
        assert all(stamp.tzinfo is dt.UTC for stamp in stamps)
        age = dt.datetime.now(dt.UTC) - min(stamps)
        assert dt.timedelta(0) <= age < dt.timedelta(minutes=10), "created_at is the time of publishing"
    return tables


def test_copy_on_postgresql_stores_what_inserts_store_on_sqlite(
    pg_store: Store, registry_files: dict[str, Path], tmp_path: Path
) -> None:
    """PostgreSQL takes the rows by COPY, SQLite by INSERT: the same values land (typed, defaults filled,
    times stored as UTC), row for row."""
    sqlite = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    for store in (sqlite, pg_store):
        publish_example(store, registry_files, "ORG-A")
    expected, copied = _published(sqlite), _published(pg_store)
    sqlite.close()
    assert all(expected[table] for table in expected)
    assert copied == expected


def test_postgresql_plans_each_patient_lookup_for_the_table_as_it_is(
    store: Store, registry_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the lookups of patient ids run while the table grows in the same transaction: a
    cached generic plan made while it was small scanned the whole table at every lookup (a 1M-prescription
    publish spent 151 of its 199 s there), so publishing asks for a plan per execution, for its own
    transaction only."""
    real = publishing._patient_ids
    modes: list[str] = []

    def lookup(s: Any, organisation_id: int, external_ids: Sequence[str]) -> dict[str, int]:
        if s.get_bind().dialect.name == "postgresql":
            modes.append(s.execute(text("SHOW plan_cache_mode")).scalar_one())
        return real(s, organisation_id, external_ids)

    monkeypatch.setattr(publishing, "_patient_ids", lookup)
    monkeypatch.setattr(publishing, "CHUNK", 3)
    publish_example(store, registry_files, "ORG-A")
    if store.dialect != "postgresql":
        assert modes == []
        return
    assert len(modes) > 1
    assert set(modes) == {"force_custom_plan"}
    with store.session() as s:
        assert s.execute(text("SHOW plan_cache_mode")).scalar_one() == "auto", "SET LOCAL: this publish only"
