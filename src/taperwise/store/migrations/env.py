"""Alembic environment: runs on the connection `taperwise.store.db.upgrade` hands over.

From a shell (when writing a new migration) set `sqlalchemy.url` instead:
`alembic -x url=sqlite:///dev.db revision --autogenerate -m "…"` with `script_location` pointing here.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, text

from taperwise.store.models import Base

# Any number: one lock id for "migrating the taperwise schema", so two processes never migrate at once.
_PG_MIGRATION_LOCK = 727_001


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})"))
        context.run_migrations()


given = context.config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("give a database: alembic -x url=sqlite:///dev.db …")
    with create_engine(url).begin() as connection:
        _run(connection)
