"""The team's review status of each patient (not reviewed, in review, in program, declined with a reason).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from taperwise.store.migrations.tables import fk, stamped_table

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    stamped_table(
        "review_statuses",
        *fk("review_statuses", "patient_id", "patients"),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        *fk("review_statuses", "recorded_by_user_id", "users"),
    )
    op.create_index("ix_review_statuses_patient", "review_statuses", ["patient_id", "id"])


def downgrade() -> None:
    op.drop_table("review_statuses")
