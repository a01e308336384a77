"""The schema comes from the packaged migrations, on both engines, and the audit log is append-only."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import delete, func, inspect, select, text, update
from sqlalchemy.exc import DatabaseError

from taperwise.store import Store, open_store
from taperwise.store.audit import record_audit
from taperwise.store.db import head_revision
from taperwise.store.models import AuditEvent, Base


def test_migrations_apply_to_an_empty_database_and_a_second_open_changes_nothing(empty_url: str) -> None:
    first = open_store(empty_url)
    assert first.revision() == head_revision() is not None
    tables = set(inspect(first.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    with first.session() as s:
        record_audit(s, None, "create", "test", 1, None, None, "kept across re-opening")
    first.close()

    again = open_store(empty_url)
    assert again.revision() == head_revision()
    assert set(inspect(again.engine).get_table_names()) == tables
    with again.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == 1
    again.close()


def test_the_models_match_the_migrated_schema(store: Store) -> None:
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def _one_audit_event(store: Store) -> int:
    with store.session() as s:
        recorded = record_audit(s, None, "view", "patient", 7, "10.0.0.1", "pytest", "original")
    return recorded.id  # written, and given its id, at commit


def test_audit_rows_cannot_be_updated_even_with_raw_sql(store: Store) -> None:
    event_id = _one_audit_event(store)
    with pytest.raises(DatabaseError, match="append-only"), store.session() as s:
        s.execute(update(AuditEvent).where(AuditEvent.id == event_id).values(detail="rewritten"))
    with pytest.raises(DatabaseError, match="append-only"), store.session() as s:
        s.execute(text("UPDATE audit_events SET username = 'someone else'"))
    with store.session() as s:
        event = s.get_one(AuditEvent, event_id)
        assert (event.detail, event.username) == ("original", "system")


def test_audit_rows_cannot_be_deleted_even_with_raw_sql(store: Store) -> None:
    event_id = _one_audit_event(store)
    with pytest.raises(DatabaseError, match="append-only"), store.session() as s:
        s.execute(delete(AuditEvent).where(AuditEvent.id == event_id))
    with pytest.raises(DatabaseError, match="append-only"), store.session() as s:
        s.execute(text("DELETE FROM audit_events"))
    with store.session() as s:
        assert s.get(AuditEvent, event_id) is not None


def test_audit_log_cannot_be_truncated_on_postgresql(pg_store: Store) -> None:
    _one_audit_event(pg_store)  # SQLite has no TRUNCATE; its DELETE trigger is tested above
    with pytest.raises(DatabaseError, match="append-only"), pg_store.session() as s:
        s.execute(text("TRUNCATE audit_events"))
