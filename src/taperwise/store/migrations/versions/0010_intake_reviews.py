"""The inherited-patient intake: its checklist saved item by item, and the decision that ends it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _fk(
    table: str, column: str, target: str, nullable: bool = False
) -> list[sa.Column[object] | sa.Constraint]:
    return [
        sa.Column(column, sa.Integer(), nullable=nullable),
        sa.ForeignKeyConstraint([column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}"),
    ]


def upgrade() -> None:
    op.create_table(
        "intake_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        *_fk("intake_reviews", "patient_id", "patients"),
        *_fk("intake_reviews", "organisation_id", "organisations"),
        *_fk("intake_reviews", "opened_by_user_id", "users"),
        sa.Column("decision", sa.String(30), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("referral", sa.Text(), nullable=True),
        sa.Column("bridging_plan", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        *_fk("intake_reviews", "decided_by_user_id", "users", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_intake_reviews"),
    )
    op.create_index("ix_intake_reviews_patient_id", "intake_reviews", ["patient_id"])
    op.create_index("ix_intake_reviews_open", "intake_reviews", ["organisation_id", "decided_at"])
    op.create_table(
        "intake_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        *_fk("intake_checks", "intake_id", "intake_reviews"),
        sa.Column("item_id", sa.String(50), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        *_fk("intake_checks", "checked_by_user_id", "users"),
        sa.PrimaryKeyConstraint("id", name="pk_intake_checks"),
    )
    op.create_index("ix_intake_checks_intake", "intake_checks", ["intake_id", "item_id"])


def downgrade() -> None:
    op.drop_table("intake_checks")
    op.drop_table("intake_reviews")
