"""Server-side sessions, and an audit log whose rows are chained by hashes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

- `user_sessions`: a signed-in session lives here (the cookie holds a random token, the table its
  SHA-256), so signing out, deactivation and "sign out everywhere" end it at once (issue 11).
- `audit_events.seq`, `prev_hash`, `row_hash` and the one-row `audit_chain`: each row carries the hash of
  the one before, so a changed, removed or inserted row breaks the chain (`taperwise audit verify`). The
  rows already in the log are chained here, in id order, with the append-only triggers lifted for that
  one statement and put back.
- SQLite: INSERT OR REPLACE deleted the row it replaced without firing the DELETE trigger; a BEFORE INSERT
  trigger now refuses an insert whose id or seq is taken (PostgreSQL's ON CONFLICT DO UPDATE already meets
  the UPDATE trigger). The store also turns on `recursive_triggers` for every SQLite connection.
- `ix_audit_events_ip_at`: failed sign-ins per client address, counted for throttling.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from taperwise.store.audit import GENESIS, row_digest

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

APPEND_ONLY = "audit_events is append-only: audit rows cannot be changed or deleted"
NO_REPLACE = "audit_events is append-only: an audit row cannot be replaced"
CHAINED = ("at", "user_id", "username", "action", "entity_type", "entity_id", "organisation_id",
           "ip", "user_agent", "detail")  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("end_reason", sa.String(40), nullable=True),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(500), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_user_sessions_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_user_sessions"),
        sa.UniqueConstraint("token_hash", name="uq_user_sessions_token_hash"),
    )
    op.create_index("ix_user_sessions_user_id", "user_sessions", ["user_id"])
    op.create_table(
        "audit_chain",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_chain"),
    )
    # Plain ADD COLUMN on both engines: SQLite's batch mode would copy the table and drop its triggers.
    op.add_column("audit_events", sa.Column("seq", sa.Integer(), nullable=True))
    op.add_column("audit_events", sa.Column("prev_hash", sa.String(64), nullable=True))
    op.add_column("audit_events", sa.Column("row_hash", sa.String(64), nullable=True))
    op.create_index("uq_audit_events_seq", "audit_events", ["seq"], unique=True)
    op.create_index("ix_audit_events_ip_at", "audit_events", ["ip", "at"])
    _chain_existing_rows()
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE TRIGGER audit_events_no_replace BEFORE INSERT ON audit_events "
            "WHEN EXISTS (SELECT 1 FROM audit_events WHERE id = NEW.id OR seq = NEW.seq) "
            f"BEGIN SELECT RAISE(ABORT, '{NO_REPLACE}'); END"
        )


def _chain_existing_rows() -> None:
    """Number and hash the rows the log holds, in id order, then record the chain's head."""
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    names = ("id", *CHAINED, "seq", "prev_hash", "row_hash")
    events = sa.table("audit_events", *(sa.column(name) for name in names))
    query = sa.select(events.c.id, *(events.c[name] for name in CHAINED)).order_by(events.c.id)
    rows = bind.execute(query).mappings().all()
    if rows:
        if postgres:
            op.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
        else:
            op.execute("DROP TRIGGER audit_events_no_update")
    previous, seq = GENESIS, 0
    for row in rows:
        seq += 1
        digest = row_digest(previous, seq, dict(row))
        chained = sa.update(events).where(events.c.id == row["id"])
        bind.execute(chained.values(seq=seq, prev_hash=previous, row_hash=digest))
        previous = digest
    if rows:
        if postgres:
            op.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")
        else:
            op.execute(
                "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
                f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
            )
    bind.execute(sa.table("audit_chain", sa.column("id"), sa.column("last_seq"), sa.column("last_hash"))
                 .insert().values(id=1, last_seq=seq, last_hash=previous))  # fmt: skip


def downgrade() -> None:
    # Downgrading would drop the chain that makes the audit log tamper-evident.
    raise NotImplementedError("the clinical store cannot be downgraded: restore a backup instead")
