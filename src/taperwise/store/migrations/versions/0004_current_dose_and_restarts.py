"""Registry entries carry the dose on the registry date and whether supply restarted after a gap.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

A patient who restarts a high dose after weeks without opioids has a low 90-day average but a high dose
today and lost tolerance: `current_daily_mme` and `restarted_after_gap` let the worklist, the patient page
and the naloxone alert see it. Rows published before this revision keep NULL (not computed).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_WORKLIST: list[str | sa.ColumnElement[object]] = [
    "snapshot_id",
    "priority",
    sa.literal_column("avg_daily_mme_90d DESC"),
    "id",
]


def _worklist_index() -> None:
    # SQLite's batch mode loses the DESC of the worklist index when it copies the table: recreate it.
    op.drop_index("ix_registry_entries_worklist", table_name="registry_entries")
    op.create_index("ix_registry_entries_worklist", "registry_entries", _WORKLIST)


def upgrade() -> None:
    with op.batch_alter_table("registry_entries") as batch:
        batch.add_column(sa.Column("current_daily_mme", sa.Numeric(18, 4), nullable=True))
        batch.add_column(sa.Column("restarted_after_gap", sa.Boolean(), nullable=True))
    _worklist_index()


def downgrade() -> None:
    with op.batch_alter_table("registry_entries") as batch:
        batch.drop_column("restarted_after_gap")
        batch.drop_column("current_daily_mme")
    _worklist_index()
