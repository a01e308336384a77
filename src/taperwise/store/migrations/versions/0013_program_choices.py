"""The program chosen for a patient: a programme format, the modules, and each deviation's reason.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "program_choices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("assessment_id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.String(50), nullable=False),
        sa.Column("modules_json", sa.Text(), nullable=False),
        sa.Column("deviations_json", sa.Text(), nullable=False),
        sa.Column("chosen_by_user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name="fk_program_choices_patient_id_patients"
        ),
        sa.ForeignKeyConstraint(
            ["assessment_id"], ["assessments.id"], name="fk_program_choices_assessment_id_assessments"
        ),
        sa.ForeignKeyConstraint(
            ["chosen_by_user_id"], ["users.id"], name="fk_program_choices_chosen_by_user_id_users"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_program_choices"),
    )
    op.create_index("ix_program_choices_patient", "program_choices", ["patient_id", "id"])


def downgrade() -> None:
    op.drop_table("program_choices")
