"""A plan adapted after a follow-up names the plan it replaced and keeps the follow-up as entered.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("taper_plans") as batch:
        batch.add_column(sa.Column("previous_plan_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("follow_up_json", sa.Text(), nullable=True))
        batch.create_foreign_key(
            "fk_taper_plans_previous_plan_id_taper_plans", "taper_plans", ["previous_plan_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("taper_plans") as batch:
        batch.drop_constraint("fk_taper_plans_previous_plan_id_taper_plans", type_="foreignkey")
        batch.drop_column("follow_up_json")
        batch.drop_column("previous_plan_id")
