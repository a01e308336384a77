"""`taperwise serve`: refuses to start without a secret outside dev mode; migrates before serving."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from taperwise.commands import serve as serve_module
from taperwise.store import open_store

app = typer.Typer()
app.command()(serve_module.serve)


def test_serve_refuses_to_start_without_a_secret_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("TAPERWISE_SECRET_KEY", raising=False)
    monkeypatch.delenv("TAPERWISE_DEV", raising=False)
    result = CliRunner().invoke(app, ["--db", f"sqlite:///{tmp_path}/app.db"])
    assert result.exit_code == 2
    assert "TAPERWISE_SECRET_KEY is not set" in result.output


def test_serve_refuses_a_warehouse_that_does_not_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TAPERWISE_DEV", "1")
    result = CliRunner().invoke(
        app, ["--db", f"sqlite:///{tmp_path}/app.db", "--warehouse", str(tmp_path / "no")]
    )
    assert result.exit_code == 2
    assert "the warehouse does not exist" in result.output


def test_serve_migrates_the_store_and_hands_the_app_to_uvicorn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("TAPERWISE_DEV", "1")
    started: dict[str, object] = {}
    monkeypatch.setattr("uvicorn.run", lambda app, **options: started.update(app=app, **options))
    database = f"sqlite:///{tmp_path}/app.db"
    result = CliRunner().invoke(app, ["--db", database, "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert started["port"] == 8123
    assert started["host"] == "127.0.0.1"
    assert open_store(database, migrate=False).revision() is not None
