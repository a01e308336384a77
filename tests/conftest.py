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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (`make test` runs two workers), the tests that start Spark or Chromium stay on
    one worker each (`--dist loadgroup`): one JVM and one browser serve them, instead of one per worker."""
    for item in items:
        name = item.nodeid.lower()
        if "spark" in name:
            item.add_marker(pytest.mark.xdist_group("spark"))
        elif "test_browser" in name:
            item.add_marker(pytest.mark.xdist_group("browser"))
