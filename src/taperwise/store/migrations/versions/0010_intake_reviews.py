"""The inherited-patient intake: its checklist saved item by item, and the decision that ends it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from taperwise.store.migrations.tables import fk, stamped_table

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    stamped_table(
        "intake_reviews",
        *fk("intake_reviews", "patient_id", "patients"),
        *fk("intake_reviews", "organisation_id", "organisations"),
        *fk("intake_reviews", "opened_by_user_id", "users"),
        sa.Column("decision", sa.String(30), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("referral", sa.Text(), nullable=True),
        sa.Column("bridging_plan", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        *fk("intake_reviews", "decided_by_user_id", "users", nullable=True),
    )
    op.create_index("ix_intake_reviews_patient_id", "intake_reviews", ["patient_id"])
    op.create_index("ix_intake_reviews_open", "intake_reviews", ["organisation_id", "decided_at"])
    stamped_table(
        "intake_checks",
        *fk("intake_checks", "intake_id", "intake_reviews"),
        sa.Column("item_id", sa.String(50), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        *fk("intake_checks", "checked_by_user_id", "users"),
    )
    op.create_index("ix_intake_checks_intake", "intake_checks", ["intake_id", "item_id"])


def downgrade() -> None:
    op.drop_table("intake_checks")
    op.drop_table("intake_reviews")
