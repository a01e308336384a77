"""The ingest outputs appear only when a whole read succeeds: a refused input leaves nothing half-written."""

from __future__ import annotations

from pathlib import Path

import pytest
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


@pytest.mark.parametrize(
    ("input_name", "output_name"),
    [("rx.csv", "rx.csv"), ("x.problems.csv", "x.csv")],  # the second: its problems file lands on the input
    ids=["the-output", "a-sibling"],
)
def test_an_output_over_the_input_is_refused_and_the_input_kept(
    tmp_path: Path, input_name: str, output_name: str
) -> None:
    source = tmp_path / input_name
    source.write_bytes(EXAMPLE.read_bytes())
    result = runner.invoke(app, ["ingest", "csv", str(source), "-o", str(tmp_path / output_name)])
    assert result.exit_code == 2
    assert "is the input file; write the output to another file" in " ".join(result.output.split())
    assert source.read_bytes() == EXAMPLE.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == [input_name]  # nothing written beside it


def test_an_output_that_cannot_be_written_is_refused_naming_it(tmp_path: Path) -> None:
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x", encoding="utf-8")
    result = runner.invoke(app, ["ingest", "csv", str(EXAMPLE), "-o", str(a_file / "rx.parquet")])
    assert result.exit_code == 2
    assert f"cannot be written ({a_file} is a file, not a folder)" in " ".join(result.output.split())
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_an_output_whose_sibling_is_a_folder_is_refused_before_anything_is_replaced(tmp_path: Path) -> None:
    output = tmp_path / "rx.parquet"
    assert runner.invoke(app, ["ingest", "csv", str(EXAMPLE), "-o", str(output)]).exit_code == 0
    (tmp_path / "rx.events.parquet").unlink()
    (tmp_path / "rx.events.parquet").mkdir()
    written = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    result = runner.invoke(app, ["ingest", "csv", str(EXAMPLE), "-o", str(output)])
    assert result.exit_code == 2
    assert "rx.events.parquet: cannot be written (a folder of that name is there)" in " ".join(
        result.output.split()
    )
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == written  # nothing replaced
