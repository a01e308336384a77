"""Monitoring (PDMP checks, urine drug tests, naloxone supply) and treatment agreements.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from taperwise.store.migrations.tables import fk, stamped_table

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    stamped_table(
        "monitoring_events",
        *fk("monitoring_events", "patient_id", "patients"),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        *fk("monitoring_events", "recorded_by_user_id", "users"),
    )
    op.create_index("ix_monitoring_events_patient", "monitoring_events", ["patient_id", "kind", "date"])
    stamped_table(
        "treatment_agreements",
        *fk("treatment_agreements", "patient_id", "patients"),
        sa.Column("goals", sa.Text(), nullable=False),
        sa.Column("trial_until", sa.Date(), nullable=True),
        sa.Column("stop_rule", sa.Text(), nullable=False),
        sa.Column("review_interval_days", sa.Integer(), nullable=False),
        sa.Column("agreed_on", sa.Date(), nullable=False),
        *fk("treatment_agreements", "recorded_by_user_id", "users"),
        sa.Column("superseded_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_treatment_agreements_patient", "treatment_agreements", ["patient_id", "id"])


def downgrade() -> None:
    op.drop_table("treatment_agreements")
    op.drop_table("monitoring_events")
