"""Every store test runs twice: on SQLite and on a real PostgreSQL.

PostgreSQL is the server at 127.0.0.1:5432; the session's databases come from the shared `postgres`
fixture (tests/conftest.py, tests/dbs.py), which fails — never skips — when the server is down.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taperwise.cli import app
from taperwise.store import Store, open_store
from tests.dbs import BACKENDS, PostgresDatabases, pg_url

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "prescriptions.csv"


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database (no tables) on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    databases: PostgresDatabases = request.getfixturevalue("postgres")
    return pg_url(databases.create())


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated, empty clinical store on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        databases: PostgresDatabases = request.getfixturevalue("postgres")
        url = pg_url(databases.migrated())
    opened = open_store(url)
    yield opened
    opened.close()


@pytest.fixture
def pg_store(postgres: PostgresDatabases) -> Iterator[Store]:
    """A migrated, empty store on PostgreSQL only (for what only PostgreSQL has)."""
    opened = open_store(pg_url(postgres.migrated()))
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def registry_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The real output of `taperwise registry` and `taperwise mme` on the example prescriptions."""
    out = tmp_path_factory.mktemp("tmp")
    runner = CliRunner()
    registry = runner.invoke(
        app, ["registry", str(EXAMPLE), "--as-of", "2025-03-31", "-o", str(out / "registry.csv")]
    )
    assert registry.exit_code == 0, registry.output
    mme = runner.invoke(app, ["mme", str(EXAMPLE), "-o", str(out / "mme.csv")])
    assert mme.exit_code == 0, mme.output
    return {
        "registry": out / "registry.csv",
        "metadata": out / "registry.metadata.json",
        "segments": out / "registry.segments.csv",
        "mme": out / "mme.csv",
        "prescriptions": EXAMPLE,
    }
