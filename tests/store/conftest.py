"""Every store test runs twice: on SQLite and on a real PostgreSQL.

PostgreSQL is the server at 127.0.0.1:5432 (trust auth, user postgres). The session creates its own
databases (`taperwise_test_<random>_…`) and drops them at the end; a test never touches anyone else's
data. If the server is down the tests fail — a store that was only tested on SQLite is not tested.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from taperwise.cli import app
from taperwise.store import Store, open_store

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "prescriptions.csv"
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=5"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
START_PG = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


class PostgresDatabases:
    """Creates databases for one test session and drops them all at its end."""

    def __init__(self) -> None:
        try:
            self.admin = psycopg.connect(PG_ADMIN, autocommit=True)
        except psycopg.OperationalError as exc:
            pytest.fail(
                f"PostgreSQL is not reachable at 127.0.0.1:5432 ({exc}). The store tests need it; start it "
                f"with: {START_PG}",
                pytrace=False,
            )
        self.prefix = f"taperwise_test_{secrets.token_hex(4)}"
        self.created: list[str] = []
        self.template: str | None = None

    def create(self, template: str | None = None) -> str:
        name = f"{self.prefix}_{len(self.created)}"
        clause = f" TEMPLATE {template}" if template else ""
        self.admin.execute(f"CREATE DATABASE {name}{clause}")  # type: ignore[arg-type]
        self.created.append(name)
        return name

    def migrated(self) -> str:
        """A fresh database at the newest schema (copied from a migrated template: fast)."""
        if self.template is None:
            self.template = self.create()
            open_store(PG_URL.format(name=self.template)).close()
        return self.create(self.template)

    def drop(self, name: str) -> None:
        self.admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]

    def close(self) -> None:
        for name in reversed(self.created):
            self.drop(name)
        self.admin.close()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases]:
    databases = PostgresDatabases()
    yield databases
    databases.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database (no tables) on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    databases: PostgresDatabases = request.getfixturevalue("postgres")
    return PG_URL.format(name=databases.create())


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated, empty clinical store on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        databases: PostgresDatabases = request.getfixturevalue("postgres")
        url = PG_URL.format(name=databases.migrated())
    opened = open_store(url)
    yield opened
    opened.close()


@pytest.fixture
def pg_store(postgres: PostgresDatabases) -> Iterator[Store]:
    """A migrated, empty store on PostgreSQL only (for what only PostgreSQL has)."""
    opened = open_store(PG_URL.format(name=postgres.migrated()))
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
