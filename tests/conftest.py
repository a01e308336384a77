"""Shared test configuration (warning filters live in pyproject.toml).

`postgres` is one set of session-owned PostgreSQL databases for every test directory that asks for it
(the store and web tests run on both SQLite and PostgreSQL; see tests/dbs.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dbs import PostgresDatabases


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases]:
    databases = PostgresDatabases()
    yield databases
    databases.close()
