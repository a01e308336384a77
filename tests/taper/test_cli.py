"""`taperwise taper plan` and `adapt` through Typer, as the lead mounts them (`taperwise taper`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

from taperwise.commands.taper import app as taper_app
from tests.taper.builders import morphine_er, request

cli = typer.Typer()
cli.add_typer(taper_app, name="taper")
runner = CliRunner()


def _write(path: Path, content: dict[str, Any]) -> Path:
    path.write_text(json.dumps(content), encoding="utf-8")
    return path


def test_plan_then_adapt_round_trip(tmp_path: Path) -> None:
    req = _write(
        tmp_path / "request.json",
        request(morphine_er(), pace={"reduction": 45, "unit": "absolute", "every_days": 28}),
    )
    result = runner.invoke(cli, ["taper", "plan", str(req), "-o", str(tmp_path / "plan.json")])
    assert result.exit_code == 0, result.output
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert [s["daily_mme"] for s in plan["steps"]] == [225, 180, 135, 90, 45, 30, 15, 0]
    visit = _write(tmp_path / "follow-up.json", {"date": "2025-02-03", "preference": "pause", "cows": 4})
    result = runner.invoke(
        cli, ["taper", "adapt", str(tmp_path / "plan.json"), str(visit), "-o", str(tmp_path / "new.json")]
    )
    assert result.exit_code == 0, result.output
    new = json.loads((tmp_path / "new.json").read_text())
    assert new["history"][0]["decision"] == "pause"
    assert new["steps"][0]["kind"] == "hold"


def test_a_bad_request_exits_2_naming_the_field(tmp_path: Path) -> None:
    raw = request(morphine_er())
    raw["regimen"][0]["dose"] = 100
    req = _write(tmp_path / "request.json", raw)
    result = runner.invoke(cli, ["taper", "plan", str(req), "-o", str(tmp_path / "plan.json")])
    assert result.exit_code == 2
    assert "regimen[0].dose" in result.output
    assert not (tmp_path / "plan.json").exists()


def test_unreadable_json_exits_2(tmp_path: Path) -> None:
    (tmp_path / "request.json").write_text("{not json")
    result = runner.invoke(
        cli, ["taper", "plan", str(tmp_path / "request.json"), "-o", str(tmp_path / "p.json")]
    )
    assert result.exit_code == 2
    assert "not valid JSON" in result.output


def test_help_shows_an_example() -> None:
    for command in ("plan", "adapt"):
        result = runner.invoke(cli, ["taper", command, "--help"])
        assert result.exit_code == 0
        assert f"taperwise taper {command}" in result.output


def _plan_file(tmp_path: Path, content: bytes) -> Any:
    path = tmp_path / "request.json"
    path.write_bytes(content)
    return runner.invoke(cli, ["taper", "plan", str(path), "-o", str(tmp_path / "plan.json")])


def test_bytes_that_are_not_utf8_exit_2_with_one_line(tmp_path: Path) -> None:
    result = _plan_file(tmp_path, b'{"start_date": "2025-01-06", "drug": "\xff\xfe"}')
    assert result.exit_code == 2
    assert "not UTF-8 text" in result.output
    assert "Traceback" not in result.output


def test_deep_nesting_and_huge_files_exit_2(tmp_path: Path) -> None:
    result = _plan_file(tmp_path, b"[" * 200_000)
    assert result.exit_code == 2
    assert "nested too deeply" in result.output or "not valid JSON" in result.output
    result = _plan_file(tmp_path, b" " * 6_000_000 + b"{}")
    assert result.exit_code == 2
    assert "larger than 5 MB" in result.output


def test_a_hostile_plan_file_for_adapt_exits_2(tmp_path: Path) -> None:
    plan = _write(tmp_path / "plan.json", {"request": {}, "steps": [{"start_date": {"x": 1}}]})
    visit = _write(tmp_path / "follow-up.json", {"date": "2025-02-03"})
    result = runner.invoke(cli, ["taper", "adapt", str(plan), str(visit), "-o", str(tmp_path / "new.json")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_an_unwritable_output_exits_2(tmp_path: Path) -> None:
    req = _write(tmp_path / "request.json", request(morphine_er()))
    result = runner.invoke(cli, ["taper", "plan", str(req), "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert "cannot be written" in result.output
