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

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


_WORKLIST: list[str | sa.ColumnElement[object]] = [
    "snapshot_id",
    "priority",
    sa.literal_column("avg_daily_mme_90d DESC"),
    "id",
]


def _worklist_index() -> None:
    # SQLite's batch mode copies the table and recreates its indexes from reflection, which loses the
    # DESC of the worklist index (and with it the sort-free worklist page): recreate it as 0001 made it.
    op.drop_index("ix_registry_entries_worklist", table_name="registry_entries")
    op.create_index("ix_registry_entries_worklist", "registry_entries", _WORKLIST)


def upgrade() -> None:
    with op.batch_alter_table("registry_entries") as batch:
        batch.add_column(sa.Column("dose_complete", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("unknown_dose_days_90d", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("dose_gap", sa.Text(), nullable=True))
        batch.alter_column("high_dose_50", existing_type=sa.Boolean(), nullable=True)
        batch.alter_column("high_dose_90", existing_type=sa.Boolean(), nullable=True)
    _worklist_index()


def downgrade() -> None:
    with op.batch_alter_table("registry_entries") as batch:
        batch.alter_column("high_dose_90", existing_type=sa.Boolean(), nullable=False)
        batch.alter_column("high_dose_50", existing_type=sa.Boolean(), nullable=False)
        batch.drop_column("dose_gap")
        batch.drop_column("unknown_dose_days_90d")
        batch.drop_column("dose_complete")
    _worklist_index()
