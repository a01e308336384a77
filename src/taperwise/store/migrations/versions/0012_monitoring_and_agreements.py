"""Monitoring (PDMP checks, urine drug tests, naloxone supply) and treatment agreements.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _fk(table: str, column: str, target: str) -> list[sa.Column[object] | sa.Constraint]:
    return [
        sa.Column(column, sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint([column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}"),
    ]


def upgrade() -> None:
    op.create_table(
        "monitoring_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        *_fk("monitoring_events", "patient_id", "patients"),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        *_fk("monitoring_events", "recorded_by_user_id", "users"),
        sa.PrimaryKeyConstraint("id", name="pk_monitoring_events"),
    )
    op.create_index("ix_monitoring_events_patient", "monitoring_events", ["patient_id", "kind", "date"])
    op.create_table(
        "treatment_agreements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        *_fk("treatment_agreements", "patient_id", "patients"),
        sa.Column("goals", sa.Text(), nullable=False),
        sa.Column("trial_until", sa.Date(), nullable=True),
        sa.Column("stop_rule", sa.Text(), nullable=False),
        sa.Column("review_interval_days", sa.Integer(), nullable=False),
        sa.Column("agreed_on", sa.Date(), nullable=False),
        *_fk("treatment_agreements", "recorded_by_user_id", "users"),
        sa.Column("superseded_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_treatment_agreements"),
    )
    op.create_index("ix_treatment_agreements_patient", "treatment_agreements", ["patient_id", "id"])


def downgrade() -> None:
    op.drop_table("treatment_agreements")
    op.drop_table("monitoring_events")
