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

from taperwise.store.migrations.batch import recreate_worklist_index

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("registry_entries") as batch:
        batch.add_column(sa.Column("current_daily_mme", sa.Numeric(18, 4), nullable=True))
        batch.add_column(sa.Column("restarted_after_gap", sa.Boolean(), nullable=True))
    recreate_worklist_index()


def downgrade() -> None:
    with op.batch_alter_table("registry_entries") as batch:
        batch.drop_column("restarted_after_gap")
        batch.drop_column("current_daily_mme")
    recreate_worklist_index()
