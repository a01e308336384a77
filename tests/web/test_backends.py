"""What running on PostgreSQL as well as SQLite revealed: answers must not depend on the engine.

Production PostgreSQL clusters usually sort text by a language collation (en-US), not bytewise as the
test cluster (C.UTF-8) and SQLite do; the store must answer the same either way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from taperwise.store import Store, open_store
from taperwise.store.models import Patient, User
from taperwise.store.repositories import create_user, publish_registry
from taperwise.store.worklist import patient_view, worklist
from tests.dbs import BACKENDS, PostgresDatabases, pg_url
from tests.web.conftest import EXAMPLE, PASSWORD, RegistryFiles

# An English-language collation, as `initdb --locale=en_US.UTF-8` or an ICU default would give.
LANGUAGE_COLLATION = "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"


def _renamed(files: RegistryFiles, out: Path, renames: dict[str, str]) -> tuple[Path, Path]:
    """The registry and its segments with some patient ids rewritten (the rest unchanged)."""
    written = []
    for source in (files.registry, files.segments):
        text = source.read_text(encoding="utf-8")
        for old, new in renames.items():
            text = re.sub(rf'^"{old}"', f'"{new}"', text, flags=re.MULTILINE)
        target = out / source.name
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written[0], written[1]


@pytest.fixture(params=[*BACKENDS, "postgresql-en-US"])
def empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated, empty store: SQLite, PostgreSQL (C.UTF-8 here), PostgreSQL with an en-US collation."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        postgres: PostgresDatabases = request.getfixturevalue("postgres")
        options = LANGUAGE_COLLATION if request.param == "postgresql-en-US" else ""
        url = pg_url(postgres.create(options=options))
    store = open_store(url)
    yield store
    store.close()


def test_patient_id_search_ignores_case_and_matches_anywhere_whatever_the_collation(
    empty_store: Store, registry_files: RegistryFiles, tmp_path: Path
) -> None:
    registry, segments = _renamed(registry_files, tmp_path, {"S001": "s001", "S002": "S-0Z2"})
    with empty_store.session() as s:
        user = create_user(s, "dr.avery", PASSWORD, "clinician", organisations=["ORG-A"])
        publish_registry(s, registry, registry_files.metadata, segments, None, None, "ORG-A")

    def found(search: str) -> list[str]:
        with empty_store.session() as s:
            me = s.get_one(User, user.id)
            return sorted(row.label for row in worklist(s, me, search=search).items)

    # Case-insensitive and anywhere in the id, the same on both engines (ASCII case folding; PostgreSQL's
    # "C" column collation and SQLite's lower() agree); LIKE's wildcards match only themselves.
    assert found("S0") == ["S003", "S004", "S005", "S006", "S007", "S008", "S009", "s001"]
    assert found("s0") == found("S0")
    # "Z" is in no pseudonym (P- and hexadecimal), so only the id can match these, whatever the draw.
    assert found("S-") == ["S-0Z2"]
    assert found("0z2") == ["S-0Z2"]
    assert found("%") == []
    assert found("_0") == []


def test_prescriptions_without_a_start_date_come_last_on_every_engine(
    empty_store: Store, registry_files: RegistryFiles
) -> None:
    # S008-04's start date (2025-02-30) is not a date: it is published with none. SQLite sorts NULL
    # first and PostgreSQL last unless the query says which.
    with empty_store.session() as s:
        user = create_user(s, "dr.avery", PASSWORD, "clinician", organisations=["ORG-A"])
        publish_registry(s, registry_files.registry, registry_files.metadata, registry_files.segments,
                         registry_files.mme, None, "ORG-A", prescriptions_path=EXAMPLE)  # fmt: skip
    with empty_store.session() as s:
        patient = s.scalars(select(Patient).where(Patient.external_id == "S008")).one()
        view = patient_view(s, s.get_one(User, user.id), patient.id, None, None)
    assert view is not None
    assert [row.rx_id for row in view.prescriptions] == [
        "S008-01",
        "S008-02",
        "S008-03",
        "S008-05",
        "S008-04",
    ]
