"""Registry entries say whether their dose is complete: unknown is not zero.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

A registry row whose opioid supply includes days of unknown MME (no factor in the set, an unusable
record) now carries `dose_complete`, `unknown_dose_days_90d` and `dose_gap`, and its high-dose flags are
empty (unknown) rather than false when the lower-bound average is below the threshold. Rows published
before this revision keep NULL in the new columns: not computed, shown as such.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from taperwise.store.migrations.batch import recreate_worklist_index

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("registry_entries") as batch:
        batch.add_column(sa.Column("dose_complete", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("unknown_dose_days_90d", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("dose_gap", sa.Text(), nullable=True))
        batch.alter_column("high_dose_50", existing_type=sa.Boolean(), nullable=True)
        batch.alter_column("high_dose_90", existing_type=sa.Boolean(), nullable=True)
    recreate_worklist_index()


def downgrade() -> None:
    with op.batch_alter_table("registry_entries") as batch:
        batch.alter_column("high_dose_90", existing_type=sa.Boolean(), nullable=False)
        batch.alter_column("high_dose_50", existing_type=sa.Boolean(), nullable=False)
        batch.drop_column("dose_gap")
        batch.drop_column("unknown_dose_days_90d")
        batch.drop_column("dose_complete")
    recreate_worklist_index()
