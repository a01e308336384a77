"""The program's first tables: assessments with their answers, safety alerts, module sign-offs.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

Answers are kept as one row per saved value (a change supersedes the old row, which stays); a safety
alert stays open until a clinician records its resolution; a module sign-off approves one digest of the
module's texts.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from taperwise.store.migrations.tables import fk, stamped_table

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    stamped_table(
        "assessments",
        *fk("assessments", "patient_id", "patients"),
        *fk("assessments", "organisation_id", "organisations"),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        *fk("assessments", "started_by_user_id", "users"),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        *fk("assessments", "completed_by_user_id", "users", nullable=True),
    )
    op.create_index("ix_assessments_patient", "assessments", ["patient_id", "created_at"])
    stamped_table(
        "assessment_answers",
        *fk("assessment_answers", "assessment_id", "assessments"),
        sa.Column("instrument_id", sa.String(30), nullable=False),
        sa.Column("instrument_version", sa.String(20), nullable=False),
        sa.Column("item_id", sa.String(40), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        *fk("assessment_answers", "entered_by_user_id", "users"),
        sa.Column("superseded_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_assessment_answers_item", "assessment_answers", ["assessment_id", "item_id"])
    stamped_table(
        "safety_alerts",
        *fk("safety_alerts", "patient_id", "patients"),
        *fk("safety_alerts", "assessment_id", "assessments"),
        sa.Column("alert_id", sa.String(50), nullable=False),
        sa.Column("level", sa.String(20), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        *fk("safety_alerts", "raised_by_user_id", "users"),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        *fk("safety_alerts", "resolved_by_user_id", "users", nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
    )
    op.create_index("ix_safety_alerts_patient", "safety_alerts", ["patient_id", "resolved_at"])
    stamped_table(
        "module_signoffs",
        sa.Column("module_id", sa.String(50), nullable=False),
        sa.Column("module_version", sa.String(20), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        *fk("module_signoffs", "signed_by_user_id", "users"),
        sa.Column("note", sa.Text(), nullable=False),
    )
    op.create_index("ix_module_signoffs_module", "module_signoffs", ["module_id", "digest"])


def downgrade() -> None:
    for table in ("module_signoffs", "safety_alerts", "assessment_answers", "assessments"):
        op.drop_table(table)
