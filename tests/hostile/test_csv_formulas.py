"""CSV cells a spreadsheet would run (issue 11 item 8; ADR 0015): written with the apostrophe that makes
them text, read back by the next command as they were, on DuckDB and Spark — so a CSV and a Parquet
route carry the same values."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from taperwise.cli import app
from taperwise.csvsafe import guard_arrow, guard_text, unguard_sql, unguard_text

CORPUS = Path(__file__).parent / "csv" / "formulas.csv"
FORMULA = '=HYPERLINK("http://example.invalid/x","results")'
runner = CliRunner()
CELLS = [
    "=1+2",
    "+PH-2",
    "@SUM(1)",
    "-G002",
    "\tx",
    "\rx",
    "-",
    "'=x",
    "ok",
    "-2",
    "+1.5e3",
    "-.5",
    "1e3",
    "",
]


def _run(*args: str) -> None:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_a_formula_is_guarded_and_a_number_is_not() -> None:
    assert guard_text("=1+2") == "'=1+2"
    assert guard_text("-G002") == "'-G002"
    assert guard_text("-2") == "-2"
    assert guard_text("+1.5e3") == "+1.5e3"
    assert guard_text("ok") == "ok"
    for cell in CELLS:
        if not cell.startswith("'"):
            assert unguard_text(guard_text(cell)) == cell


def test_arrow_and_duckdb_follow_the_same_rule_as_python() -> None:
    batch = pa.RecordBatch.from_pydict({"cell": pa.array(CELLS, pa.string())})
    guarded = guard_arrow(batch).column(0).to_pylist()
    assert guarded == [guard_text(cell) for cell in CELLS]
    with duckdb.connect() as con:
        read = [
            con.execute(f"SELECT {unguard_sql('x')} FROM (SELECT ?::VARCHAR AS x)", [cell]).fetchone()[0]
            for cell in guarded
        ]  # type: ignore[index]
    assert read == [unguard_text(cell) for cell in guarded]


def test_outputs_are_guarded_and_the_next_command_reads_them_back_exactly(tmp_path: Path) -> None:
    _run("ingest", "csv", str(CORPUS), "-o", str(tmp_path / "rx.csv"))
    _run("ingest", "csv", str(CORPUS), "-o", str(tmp_path / "rx.parquet"))
    written = {row["rx_id"] for row in _rows(tmp_path / "rx.csv")}
    assert "'" + FORMULA in written
    assert FORMULA not in written
    _run("mme", str(tmp_path / "rx.csv"), "-o", str(tmp_path / "mme.csv"))
    mme = _rows(tmp_path / "mme.csv")
    assert "'" + FORMULA in {row["rx_id"] for row in mme}
    # The CSV route and the Parquet route give the same rows once read (the guard comes off).
    _run("mme", str(tmp_path / "rx.csv"), "-o", str(tmp_path / "from-csv.parquet"))
    _run("mme", str(tmp_path / "rx.parquet"), "-o", str(tmp_path / "from-parquet.parquet"))
    from_csv = pq.read_table(tmp_path / "from-csv.parquet").to_pylist()
    from_parquet = pq.read_table(tmp_path / "from-parquet.parquet").to_pylist()
    assert from_csv == from_parquet
    assert FORMULA in {row["rx_id"] for row in from_csv}


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_each_engine_takes_the_guard_off_a_csv(tmp_path: Path, engine: str) -> None:
    _run("ingest", "csv", str(CORPUS), "-o", str(tmp_path / "rx.csv"))
    _run("mme", str(tmp_path / "rx.csv"), "-o", str(tmp_path / "mme.parquet"), "--engine", engine)
    ids = set(pq.read_table(tmp_path / "mme.parquet").column("rx_id").to_pylist())
    assert FORMULA in ids
    assert "-2" in ids
