"""The audit log is tamper-evident: a hash chain, checked by `taperwise audit verify`, on both engines."""

from __future__ import annotations

import threading

import pytest
from alembic import command
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import DatabaseError
from typer.testing import CliRunner

from taperwise.cli import app
from taperwise.store import Store, open_store
from taperwise.store.audit import GENESIS, record_audit, verify_chain
from taperwise.store.db import migration_config
from taperwise.store.models import AuditEvent

runner = CliRunner()


def _events(store: Store, n: int, prefix: str = "e") -> None:
    for i in range(n):
        with store.session() as s:
            record_audit(s, None, "view", "patient", i, "10.0.0.1", "pytest", f"{prefix}{i}")


def _verify(url: str) -> tuple[int, str]:
    result = runner.invoke(app, ["audit", "verify", "--db", url])
    return result.exit_code, result.output


def _url(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


def _unguarded(store: Store, statement: str) -> None:
    """What an attacker with the database's owner rights can do: lift the triggers, change, restore."""
    with store.engine.begin() as connection:
        if store.dialect == "postgresql":
            connection.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
            connection.execute(text(statement))
            connection.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
        else:
            triggers = connection.execute(
                text(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_events'"
                )
            ).all()
            for name, _ in triggers:
                connection.execute(text(f"DROP TRIGGER {name}"))
            connection.execute(text(statement))
            for _, sql in triggers:
                connection.execute(text(sql))


def test_rows_are_numbered_and_linked_and_verify_passes(store: Store) -> None:
    _events(store, 5)
    with store.session() as s:
        rows = s.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        report = verify_chain(s, batch=2)  # across batches
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == GENESIS
    assert all(rows[i].prev_hash == rows[i - 1].row_hash for i in range(1, 5))
    assert report.intact
    assert (report.rows, report.last_seq, report.last_hash) == (5, 5, rows[-1].row_hash)
    code, output = _verify(_url(store))
    assert code == 0, output
    assert "intact: 5 row(s)" in output


def test_a_changed_row_is_named(store: Store) -> None:
    _events(store, 4)
    with store.session() as s:
        target = s.scalars(select(AuditEvent.id).where(AuditEvent.seq == 3)).one()
    _unguarded(store, f"UPDATE audit_events SET detail = 'rewritten' WHERE id = {target}")
    code, output = _verify(_url(store))
    assert code == 1
    assert f"audit row id {target} (seq 3)" in output
    assert "changed" in output


@pytest.mark.parametrize("which", ["middle", "end"])
def test_a_removed_row_breaks_the_chain(store: Store, which: str) -> None:
    _events(store, 4)
    seq = 2 if which == "middle" else 4
    _unguarded(store, f"DELETE FROM audit_events WHERE seq = {seq}")
    code, output = _verify(_url(store))
    assert code == 1
    assert ("seq 2 is missing" if which == "middle" else "rows at the end were removed") in " ".join(
        output.split()
    )


def test_replace_and_upsert_are_refused(store: Store) -> None:
    _events(store, 1)
    with store.session() as s:
        first = s.scalars(select(AuditEvent)).one()
    columns = "id, at, username, action, entity_type, detail, seq, prev_hash, row_hash"
    values = f"{first.id}, '2020-01-01 00:00:00', 'x', 'view', 'patient', 'forged', 1, '{GENESIS}', 'x'"
    forged = (
        f"INSERT OR REPLACE INTO audit_events ({columns}) VALUES ({values})"
        if store.dialect == "sqlite"
        else f"INSERT INTO audit_events ({columns}) VALUES ({values}) "
        "ON CONFLICT (id) DO UPDATE SET detail = 'forged'"
    )
    with pytest.raises(DatabaseError, match="append-only"), store.engine.begin() as connection:
        connection.execute(text(forged))
    with store.session() as s:
        assert s.scalars(select(AuditEvent.detail)).one() == "e0"
        assert verify_chain(s).intact


def test_concurrent_writers_never_fork_the_chain(store: Store) -> None:
    errors: list[BaseException] = []

    def write(prefix: str) -> None:
        try:
            _events(store, 15, prefix)
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(p,)) for p in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with store.session() as s:
        report = verify_chain(s)
    assert report.intact, report.problem
    assert report.rows == 30


def test_the_migration_chains_the_rows_already_in_the_log(empty_url: str) -> None:
    engine = create_engine(empty_url)
    config = migration_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0005")
        for i in range(3):
            connection.execute(text(
                "INSERT INTO audit_events (at, username, action, entity_type, detail) "
                f"VALUES ('2026-11-2{i} 10:00:00.000001', 'old', 'view', 'patient', 'before the chain {i}')"
            ))  # fmt: skip
    engine.dispose()
    store = open_store(empty_url)
    _events(store, 2)
    with store.session() as s:
        report = verify_chain(s)
        seqs = s.scalars(select(AuditEvent.seq).order_by(AuditEvent.id)).all()
    store.close()
    assert report.intact, report.problem
    assert seqs == [1, 2, 3, 4, 5]
