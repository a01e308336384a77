"""`taperwise synth` on the command line: writes the files, explains itself, refuses bad options."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from taperwise.commands.synth import synth

app = typer.Typer()
app.command()(synth)


@app.command()
def _other() -> None:  # a second command makes Typer keep `synth` as a sub-command name
    pass


def test_synth_writes_parquet_with_a_manifest(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["synth", "-n", "50", "-o", str(tmp_path / "rx.parquet"), "--seed", "3"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "rx.synth.json").read_text())
    assert manifest["patients"] == 50
    assert manifest["seed"] == 3
    assert {"rx.parquet", "rx.patients.parquet", "rx.events.parquet"} <= {p.name for p in tmp_path.iterdir()}


def test_clean_option_writes_no_malformed_records(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["synth", "-n", "400", "-o", str(tmp_path / "rx.csv"), "--clean"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "rx.synth.json").read_text())["malformed"] == {}


def test_help_shows_an_example() -> None:
    result = CliRunner().invoke(app, ["synth", "--help"])
    assert result.exit_code == 0
    assert "Example: taperwise synth" in result.output


def test_a_folder_format_refuses_a_file_name(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["synth", "-n", "10", "-f", "fhir", "-o", str(tmp_path / "x.json")])
    assert result.exit_code == 2
    assert "is a folder" in result.output


def test_a_bad_date_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["synth", "-n", "10", "-o", str(tmp_path / "x.csv"), "--start", "2025-02-30"]
    )
    assert result.exit_code != 0
