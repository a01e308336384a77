"""Hostile taper requests (issue 11 item 12) through `taperwise taper plan`: each is refused with exit 2 and
one line naming the file and, where there is one, the field; never a traceback, never an output file
(200 products once wrote 330 MB)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from taperwise.cli import app

CORPUS = Path(__file__).parent / "taper"
# file -> words the refusal must hold (the field where the value sits in one)
EXPECTED = {
    "bad-bytes.json": "not UTF-8 text",
    "digits-10001.json": "regimen[0].dose",
    "dose-1e400.json": "regimen[0].dose",
    "every-days-1e20.json": "pace.every_days",
    "use-days-1e308.json": "opioid_use_days",
    "200-products.json": "at most 20 can be planned at once",
}
runner = CliRunner()


def test_every_file_of_the_corpus_has_an_expectation() -> None:
    assert sorted(path.name for path in CORPUS.glob("*.json")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_hostile_request_is_refused_naming_the_file_and_field(tmp_path: Path, name: str) -> None:
    output = tmp_path / "plan.json"
    result = runner.invoke(app, ["taper", "plan", str(CORPUS / name), "-o", str(output)])
    assert result.exit_code == 2, result.output
    assert name in result.output
    assert EXPECTED[name] in result.output
    assert "Traceback" not in result.output
    assert not output.exists()


def test_a_request_nested_100000_deep_is_refused(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    result = runner.invoke(app, ["taper", "plan", str(deep), "-o", str(tmp_path / "plan.json")])
    assert result.exit_code == 2
    assert "nested too deeply" in result.output
    assert "Traceback" not in result.output
