"""Parquet outputs on DuckDB are written by DuckDB itself (`engine._duckdb_parquet`): they must hold the
rows of the Arrow route, in input order, with the declared types — on a file big enough that DuckDB
reads and writes it in parallel (several row groups)."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from taperwise.cli import app
from taperwise.csvsafe import unguard_text
from taperwise.exposure.engine import parquet_counts
from taperwise.synth.generator import SynthOptions
from taperwise.synth.run import synthesize

runner = CliRunner()


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 300,000 prescriptions (three Parquet row groups), malformed rows included."""
    path = tmp_path_factory.mktemp("parquet-output") / "rx.parquet"
    synthesize(SynthOptions(patients=28_000, seed=5), "csv", path)
    assert pq.read_metadata(path).num_rows > 250_000
    return path


def _run(*args: str) -> None:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output


def test_mme_parquet_keeps_input_order_and_the_values_and_types_of_the_csv_route(
    export: Path, tmp_path: Path
):
    _run("mme", str(export), "-o", str(tmp_path / "mme.parquet"))
    _run("mme", str(export), "-o", str(tmp_path / "mme.csv"))
    written = pq.read_table(tmp_path / "mme.parquet")
    assert written.column("rx_id").to_pylist() == pq.read_table(export).column("rx_id").to_pylist()
    assert str(written.schema.field("daily_mme").type) == "decimal128(18, 4)"
    assert str(written.schema.field("end_date").type) == "date32[day]"  # as declared, not a timestamp
    with (tmp_path / "mme.csv").open(encoding="utf-8", newline="") as handle:
        from_csv = list(csv.DictReader(handle))
    assert len(from_csv) == written.num_rows
    for name in ("rx_id", "status", "reason", "daily_mme", "end_date", "flags"):
        shown = ["" if v is None else str(v) for v in written.column(name).to_pylist()]
        assert shown == [unguard_text(row[name]) for row in from_csv], name
    statuses = parquet_counts(tmp_path / "mme.parquet", "status")
    assert statuses["insufficient_data"] > 0
    assert sum(statuses.values()) == written.num_rows


def test_segments_parquet_are_the_csv_routes_segments_in_order(export: Path, tmp_path: Path):
    _run("segments", str(export), "-o", str(tmp_path / "s.parquet"))
    _run("segments", str(export), "-o", str(tmp_path / "s.csv"))
    written = pq.read_table(tmp_path / "s.parquet")
    with (tmp_path / "s.csv").open(encoding="utf-8", newline="") as handle:
        from_csv = [(r["patient_id"], r["start_date"], r["daily_mme"]) for r in csv.DictReader(handle)]
    rows = zip(
        *(written.column(n).to_pylist() for n in ("patient_id", "start_date", "daily_mme")), strict=True
    )
    assert [(p, str(d), str(m)) for p, d, m in rows] == from_csv
