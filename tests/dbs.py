"""Real PostgreSQL databases for tests, made and dropped by the test session.

The server is the one at 127.0.0.1:5432 (trust auth, user postgres). A session creates its own databases
(`taperwise_test_<random>_<n>`) and drops them all at its end; a test never touches anyone else's data.
If the server is down the tests fail, never skip: a store tested only on SQLite is not tested.
The `postgres` fixture in tests/conftest.py hands one `PostgresDatabases` to the store and web tests.
"""

from __future__ import annotations

import secrets

import psycopg
import pytest

from taperwise.store import open_store

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=5"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
START_PG = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
BACKENDS = ("sqlite", "postgresql")


def pg_url(name: str) -> str:
    return PG_URL.format(name=name)


class PostgresDatabases:
    """Creates databases for one test session and drops them all at its end."""

    def __init__(self) -> None:
        try:
            self.admin = psycopg.connect(PG_ADMIN, autocommit=True)
        except psycopg.OperationalError as exc:
            pytest.fail(
                f"PostgreSQL is not reachable at 127.0.0.1:5432 ({exc}). The store and web tests need it; "
                f"start it with: {START_PG}",
                pytrace=False,
            )
        self.prefix = f"taperwise_test_{secrets.token_hex(4)}"
        self.created: list[str] = []
        self.template: str | None = None

    def create(self, template: str | None = None, *, options: str = "") -> str:
        """A new empty database, or a copy of `template` (which must have no open connections).

        `options`: more of CREATE DATABASE, e.g. a collation (`TEMPLATE template0 LOCALE_PROVIDER icu …`).
        """
        name = f"{self.prefix}_{len(self.created)}"
        clause = f" TEMPLATE {template}" if template else ""
        self.admin.execute(f"CREATE DATABASE {name}{clause} {options}")
        self.created.append(name)
        return name

    def migrated(self) -> str:
        """A fresh database at the newest schema (copied from a migrated template: fast)."""
        if self.template is None:
            self.template = self.create()
            open_store(pg_url(self.template)).close()
        return self.create(self.template)

    def drop(self, name: str) -> None:
        """Drop one database now, ending any connection still open to it."""
        self.admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def close(self) -> None:
        for name in reversed(self.created):
            self.drop(name)
        self.admin.close()
