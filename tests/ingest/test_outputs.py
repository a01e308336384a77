"""The ingest outputs appear only when a whole read succeeds: a refused input leaves nothing half-written."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from taperwise.cli import app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "prescriptions.csv"
runner = CliRunner()


def test_a_refused_input_leaves_no_output_and_keeps_an_earlier_one(tmp_path: Path) -> None:
    output = tmp_path / "rx.parquet"
    first = runner.invoke(app, ["ingest", "csv", str(EXAMPLE), "-o", str(output)])
    assert first.exit_code == 0, first.output
    written = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    assert set(written) == {
        "rx.parquet", "rx.patients.parquet", "rx.events.parquet", "rx.problems.csv", "rx.ingest.json",
    }  # fmt: skip

    bad = tmp_path / "bad.csv"
    bad.write_text("patient_id,drug\np1,Oxycodone Hydrochloride 5 MG Oral Tablet\n", encoding="utf-8")
    refused = runner.invoke(app, ["ingest", "csv", str(bad), "-o", str(output)])
    assert refused.exit_code == 2
    assert "required column(s) missing" in refused.output
    after = {path.name: path.read_bytes() for path in tmp_path.iterdir() if path != bad}
    assert after == written  # the earlier run's files, byte for byte, and no partial files beside them

    fresh = tmp_path / "fresh"
    refused = runner.invoke(app, ["ingest", "csv", str(bad), "-o", str(fresh / "rx.parquet")])
    assert refused.exit_code == 2
    assert list(fresh.iterdir()) == []
