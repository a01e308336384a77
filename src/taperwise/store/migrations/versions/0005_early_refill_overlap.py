"""Registry entries and trajectory segments say where fills of one product overlap (early refills).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

The published averages add fills of one product that overlap, so an early refill shows as a doubled
dose for a few days. `trajectory_segments.overlapping_fills` (fills of one product in supply at once
beyond the first) and `registry_entries.max_includes_overlap_90d` let the pages label such a maximum.
Rows published before this revision keep NULL (not computed).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from taperwise.store.migrations.batch import recreate_worklist_index

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("registry_entries") as batch:
        batch.add_column(sa.Column("max_includes_overlap_90d", sa.Boolean(), nullable=True))
    recreate_worklist_index()
    with op.batch_alter_table("trajectory_segments") as batch:
        batch.add_column(sa.Column("overlapping_fills", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trajectory_segments") as batch:
        batch.drop_column("overlapping_fills")
    with op.batch_alter_table("registry_entries") as batch:
        batch.drop_column("max_includes_overlap_90d")
    recreate_worklist_index()
