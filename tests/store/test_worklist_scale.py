"""The worklist stays fast with 100,000 patients: its page query is answered from the worklist index.

Asserting on the query plan rather than on a stopwatch keeps the test stable on a busy machine and says
why it is fast: no full scan of the entries and no sort of the whole snapshot for ORDER BY.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert, text

from taperwise.store import Store, open_store
from taperwise.store import repositories as repo
from taperwise.store.models import Patient, RegistryEntry, RegistrySnapshot, User, utc_now
from tests.store.helpers import add_user

PATIENTS = 100_000


@pytest.fixture(scope="module")
def large_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, User]]:
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('scale') / 'store.db'}")
    user = add_user(store, "dr.scale", "clinician", "BIG")
    now = utc_now()
    generator = random.Random(20261123)
    with store.session() as s:
        organisation = repo.ensure_organisation(s, "BIG")
        snapshot = RegistrySnapshot(
            organisation_id=organisation.id, as_of=dt.date(2025, 3, 31), factor_set="cdc-2022@2022.1",
            metadata_json="{}", source_sha256="0" * 64, published_at=now,
        )  # fmt: skip
        s.add(snapshot)
        s.flush()
        s.execute(
            insert(Patient),
            [{"organisation_id": organisation.id, "external_id": f"P{n:06d}", "pseudonym": f"P-{n:012X}",
              "in_program": False, "created_at": now} for n in range(PATIENTS)],
        )  # fmt: skip
        s.execute(
            insert(RegistryEntry), [_entry(snapshot.id, n + 1, generator, now) for n in range(PATIENTS)]
        )
    yield store, user
    store.close()


def _entry(snapshot_id: int, patient_id: int, generator: random.Random, now: dt.datetime) -> dict[str, Any]:
    mme = Decimal(generator.randint(0, 2_000_000)) / 10_000
    benzo = generator.random() < 0.1
    return {
        "snapshot_id": snapshot_id, "patient_id": patient_id, "created_at": now,
        "avg_daily_mme_90d": mme, "max_daily_mme_90d": mme * 2, "days_covered_90d": 60, "ltot": True,
        "high_dose_50": mme >= 50, "high_dose_90": mme >= 90, "benzo_overlap_days_90d": 10 if benzo else 0,
        "prescribers_180d": 1, "pharmacies_180d": 1, "multi_provider": False, "new_prescriber": None,
        "buprenorphine_days_90d": 0, "priority": generator.randint(1, 10), "priority_reason": "test",
        "problem_records_180d": 0,
    }  # fmt: skip


def _plans(store: Store, user: User, **filters: Any) -> tuple[repo.Page[repo.WorklistRow], list[str]]:
    """The worklist page, and the SQLite plan of every statement it ran against registry_entries."""
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if "registry_entries" in statement:
            statements.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", capture)
    try:
        with store.session() as s:
            page = repo.worklist(s, user, **filters)
    finally:
        event.remove(store.engine, "before_cursor_execute", capture)
    plans = []
    with store.engine.connect() as connection:
        for statement, parameters in statements:
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            plans.append("\n".join(str(row[-1]) for row in rows))
    return page, plans


@pytest.mark.parametrize(
    "filters",
    [{}, {"min_mme": 90}, {"min_mme": 90, "benzo": True}, {"high_dose_90": True, "page": 3}],
    ids=["unfiltered", "90-mme", "90-mme-benzo", "high-dose-page-3"],
)
def test_a_filtered_worklist_page_over_100k_patients_reads_the_worklist_index(
    large_store: tuple[Store, User], filters: dict[str, Any]
) -> None:
    store, user = large_store
    page, plans = _plans(store, user, page_size=50, **filters)
    assert len(plans) == 2, "one count and one page query"
    for plan in plans:
        assert plan.startswith(
            "SEARCH registry_entries USING INDEX ix_registry_entries_worklist (snapshot_id=?)"
        )
        assert "SCAN" not in plan, f"a full scan:\n{plan}"
        assert "TEMP B-TREE" not in plan, f"sorts the whole snapshot:\n{plan}"
    assert len(page.items) == 50
    keys = [(row.priority, -row.avg_daily_mme_90d) for row in page.items]
    assert keys == sorted(keys)
    if "min_mme" in filters:
        assert all(row.avg_daily_mme_90d >= 90 for row in page.items)
    assert 0 < page.total <= PATIENTS


def test_searching_100k_patients_finds_the_prefix_without_a_full_scan(
    large_store: tuple[Store, User],
) -> None:
    store, user = large_store
    page, plans = _plans(store, user, search="P01234")
    assert sorted(row.label for row in page.items) == [f"P01234{n}" for n in range(10)]
    assert not any("SCAN" in plan or "TEMP B-TREE" in plan for plan in plans), plans


def test_the_scale_fixture_has_the_patients_it_claims(large_store: tuple[Store, User]) -> None:
    store, _ = large_store
    with store.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM registry_entries")).scalar() == PATIENTS
    assert Path(store.engine.url.database or "").exists()
