"""The team's review status of each patient (not reviewed, in review, in program, declined with a reason).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_statuses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("recorded_by_user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name="fk_review_statuses_patient_id_patients"
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_user_id"], ["users.id"], name="fk_review_statuses_recorded_by_user_id_users"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_review_statuses"),
    )
    op.create_index("ix_review_statuses_patient", "review_statuses", ["patient_id", "id"])


def downgrade() -> None:
    op.drop_table("review_statuses")
