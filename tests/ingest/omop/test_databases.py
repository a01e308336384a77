"""The hand-made CDM from a DuckDB file and from PostgreSQL gives the same canonical rows as from CSVs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from taperwise.ingest.omop import read_omop
from tests.ingest.omop.helpers import CDM, ingest

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _by_id(rows: list[dict[str, str | None]]) -> dict[str | None, dict[str, str | None]]:
    return {row["rx_id"]: row for row in rows}


def _duckdb_cdm(path: Path) -> Path:
    """The fixture CDM in a DuckDB file, with typed columns and upper-case table and column names."""
    with duckdb.connect(str(path)) as connection:
        for csv_path in CDM.glob("*.csv"):
            relation = connection.read_csv(str(csv_path))
            columns = ", ".join(f'"{name}" AS "{name.upper()}"' for name in relation.columns)
            connection.execute(f"CREATE TABLE {csv_path.stem.upper()} AS SELECT {columns} FROM relation")
    return path


def test_duckdb_file_with_upper_case_typed_tables_matches_the_csv_folder(tmp_path: Path) -> None:
    from_csv = ingest(lambda sink: read_omop(CDM, sink), tmp_path / "csv")
    database = _duckdb_cdm(tmp_path / "cdm.duckdb")
    from_duckdb = ingest(lambda sink: read_omop(database, sink), tmp_path / "duckdb")
    assert _by_id(from_duckdb.prescriptions) == _by_id(from_csv.prescriptions)
    assert sorted(map(str, from_duckdb.events)) == sorted(map(str, from_csv.events))
    assert sorted(map(str, from_duckdb.patients)) == sorted(map(str, from_csv.patients))


def test_empty_table_stored_with_its_header_as_a_row_is_read_as_empty(tmp_path: Path) -> None:
    # How Eunomia's DuckDB stores its empty death and drug_strength tables.
    database = _duckdb_cdm(tmp_path / "cdm.duckdb")
    with duckdb.connect(str(database)) as connection:
        connection.execute("DROP TABLE DEATH")
        connection.execute("CREATE TABLE death (column0 VARCHAR, column1 VARCHAR)")
        connection.execute("INSERT INTO death VALUES ('PERSON_ID', 'DEATH_DATE')")
    result = ingest(lambda sink: read_omop(database, sink), tmp_path)
    assert not any(event["kind"] == "death" for event in result.events)
    assert not result.problems_of("missing_table")
    assert [p["record"] for p in result.problems_of("bad_value")] == ["604"]


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    psycopg = pytest.importorskip("psycopg")
    try:
        connection = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        pytest.skip("no PostgreSQL at 127.0.0.1:5432")
    schema = f"taperwise_omop_{uuid.uuid4().hex[:8]}"
    with connection:
        connection.execute(f"CREATE SCHEMA {schema}")
        try:
            for csv_path in CDM.glob("*.csv"):
                header = csv_path.read_text(encoding="utf-8").splitlines()[0].split(",")
                columns = ", ".join(f"{name} text" for name in header)
                connection.execute(f"CREATE TABLE {schema}.{csv_path.stem} ({columns})")
                with connection.cursor().copy(
                    f"COPY {schema}.{csv_path.stem} FROM STDIN WITH (FORMAT csv, HEADER true)"
                ) as copy:
                    copy.write(csv_path.read_bytes())
            yield schema
        finally:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


def test_postgresql_schema_matches_the_csv_folder(tmp_path: Path, postgres_schema: str) -> None:
    from_csv = ingest(lambda sink: read_omop(CDM, sink), tmp_path / "csv")
    from_pg = ingest(lambda sink: read_omop(POSTGRES_URL, sink, schema=postgres_schema), tmp_path / "pg")
    assert _by_id(from_pg.prescriptions) == _by_id(from_csv.prescriptions)
    assert sorted(map(str, from_pg.events)) == sorted(map(str, from_csv.events))
    assert sorted((p["kind"], p["record"]) for p in from_pg.problems) == sorted(
        (p["kind"], p["record"]) for p in from_csv.problems
    )
