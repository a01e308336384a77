"""Taper plans made in the app, and the acknowledgements of their requires_review warnings.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from taperwise.store.migrations.tables import fk, stamped_table

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    stamped_table(
        "taper_plans",
        *fk("taper_plans", "patient_id", "patients"),
        *fk("taper_plans", "organisation_id", "organisations"),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("request_json", sa.Text(), nullable=False),
        sa.Column("plan_json", sa.Text(), nullable=False),
        *fk("taper_plans", "created_by_user_id", "users"),
        sa.Column("agreed_at", sa.DateTime(), nullable=True),
        *fk("taper_plans", "agreed_by_user_id", "users", nullable=True),
        sa.Column("superseded_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_taper_plans_patient", "taper_plans", ["patient_id", "created_at"])
    stamped_table(
        "plan_warning_acknowledgements",
        *fk("plan_warning_acknowledgements", "plan_id", "taper_plans"),
        sa.Column("warning_code", sa.String(50), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        *fk("plan_warning_acknowledgements", "acknowledged_by_user_id", "users"),
    )
    op.create_index("ix_plan_warning_acknowledgements_plan", "plan_warning_acknowledgements", ["plan_id"])


def downgrade() -> None:
    op.drop_table("plan_warning_acknowledgements")
    op.drop_table("taper_plans")
