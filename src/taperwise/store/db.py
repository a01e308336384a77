"""Opening the clinical store: an engine, migrations applied, and transactions as `with` blocks.

One URL picks the database: `sqlite:///path/app.db` (the default, one file) or
`postgresql+psycopg://user@host:5432/db` (production). The schema comes only from the Alembic migrations
shipped in `taperwise/store/migrations`, applied on open, so an installed taperwise can upgrade a
database without an alembic.ini.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from taperwise.errors import UnusableInputError
from taperwise.store import audit
from taperwise.store.security import reject_nul_in

MIGRATIONS = "taperwise.store:migrations"


class Store:
    """A clinical store: `with store.session() as s:` is one transaction (commit, or rollback on error)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Objects stay readable after the transaction ends: the web layer renders them afterwards.
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        audit.install(self._sessions)  # recorded audit events are chained and written at each commit

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    def revision(self) -> str | None:
        """The migration the database is at (None before the first)."""
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def close(self) -> None:
        self.engine.dispose()


def migration_config() -> Config:
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(migration_config()).get_current_head()


def upgrade(engine: Engine) -> None:
    """Apply every migration not yet applied (none when the database is at head)."""
    config = migration_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _guard_text(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
    # The one place every statement passes, ORM or bulk: a NUL byte is refused here with a message that
    # names the column, before PostgreSQL would abort the transaction with an encoding error.
    reject_nul_in(parameters, "value")


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")  # off by default in SQLite; the schema relies on them
    cursor.execute("PRAGMA busy_timeout = 30000")  # the web app and a publish may write at once
    # Without it INSERT OR REPLACE deletes the row it replaces without firing DELETE triggers, which is
    # how an audit row could be rewritten (the audit triggers, migration 0006).
    cursor.execute("PRAGMA recursive_triggers = ON")
    cursor.close()


def create_store_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise UnusableInputError(f"database URL {url!r} is not valid ({exc})") from exc
    options: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            # One shared connection, or every session would see its own empty in-memory database.
            options = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
        else:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    elif parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3 is the driver we ship
    engine = create_engine(parsed, **options)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "before_cursor_execute", _guard_text)
    return engine


def open_store(url: str, *, migrate: bool = True) -> Store:
    """The store at `url`, migrated to the newest schema unless `migrate=False`."""
    engine = create_store_engine(url)
    if migrate:
        try:
            upgrade(engine)
        except OperationalError as exc:
            engine.dispose()
            raise UnusableInputError(
                f"cannot open the database {make_url(url).render_as_string(hide_password=True)}: "
                f"{str(exc.orig).strip().splitlines()[0] if exc.orig else exc}"
            ) from exc
    return Store(engine)
