"""The program chosen for a patient: a programme format, the modules, and each deviation's reason.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from taperwise.store.migrations.tables import fk, stamped_table

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    stamped_table(
        "program_choices",
        *fk("program_choices", "patient_id", "patients"),
        *fk("program_choices", "assessment_id", "assessments"),
        sa.Column("template_id", sa.String(50), nullable=False),
        sa.Column("modules_json", sa.Text(), nullable=False),
        sa.Column("deviations_json", sa.Text(), nullable=False),
        *fk("program_choices", "chosen_by_user_id", "users"),
    )
    op.create_index("ix_program_choices_patient", "program_choices", ["patient_id", "id"])


def downgrade() -> None:
    op.drop_table("program_choices")
