"""`taperwise registry --factors uk-fpm --settings uk`: the UK set and the shipped UK settings preset."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from typer.testing import CliRunner

from taperwise.cli import app

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "prescriptions.csv"
runner = CliRunner()


def test_registry_takes_the_uk_preset_by_name_and_keeps_the_contract_columns(tmp_path: Path):
    out = tmp_path / "registry.csv"
    args = ["registry", str(SAMPLE), "--as-of", "2025-03-31", "-o", str(out), "--factors", "uk-fpm"]
    for preset, thresholds in (("uk", [50, 90]), ("uk-120", [90, 120])):
        result = runner.invoke(app, [*args, "--settings", preset])
        assert result.exit_code == 0, result.output
        metadata = json.loads((tmp_path / "registry.metadata.json").read_text(encoding="utf-8"))
        assert metadata["factor_set"]["id"] == "uk-fpm"
        assert metadata["factor_set"]["version"] == "2020.1"
        assert metadata["factor_set"]["dose_term"] == "OME"
        assert metadata["settings_version"] == f"2026.12.1-{preset}"
        assert metadata["thresholds"]["high_dose"]["thresholds"] == thresholds
        assert metadata["thresholds"]["high_dose"]["source_id"] == "openprescribing-high-dose"
        with out.open(encoding="utf-8") as handle:
            header = next(csv.reader(handle))
        assert {"high_dose_50", "high_dose_90"} <= set(header)  # names are a contract: only thresholds change


def test_an_unknown_settings_name_is_refused_naming_the_presets(tmp_path: Path):
    args = ["registry", str(SAMPLE), "--as-of", "2025-03-31", "-o", str(tmp_path / "r.csv")]
    result = runner.invoke(app, [*args, "--settings", "scotland"])
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "not a shipped preset (uk, uk-120)" in said
