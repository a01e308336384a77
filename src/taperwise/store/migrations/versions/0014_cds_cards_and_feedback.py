"""CDS Hooks: the cards returned to the EHR and the feedback it sends about them.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from taperwise.store.migrations.tables import fk, stamped_table

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    stamped_table(
        "cds_cards",
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("hook_instance", sa.String(128), nullable=False),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("rules_version", sa.String(32), nullable=False),
        sa.Column("indicator", sa.String(10), nullable=False),
        sa.Column("issuer", sa.String(300), nullable=False),
        *fk("cds_cards", "organisation_id", "organisations", nullable=True),
        sa.Column("fhir_patient_id", sa.String(64), nullable=False),
        sa.Column("summary", sa.String(200), nullable=False),
        sa.UniqueConstraint("uuid", name="uq_cds_cards_uuid"),
    )
    op.create_index("ix_cds_cards_rule", "cds_cards", ["rule_id", "id"])
    stamped_table(
        "cds_feedback",
        *fk("cds_feedback", "card_id", "cds_cards"),
        sa.Column("outcome", sa.String(12), nullable=False),
        sa.Column("accepted_suggestions_json", sa.Text(), nullable=False),
        sa.Column("reason_system", sa.String(300), nullable=True),
        sa.Column("reason_code", sa.String(128), nullable=True),
        sa.Column("reason_display", sa.String(300), nullable=True),
        sa.Column("user_comment", sa.Text(), nullable=True),
        sa.Column("outcome_at", sa.DateTime(), nullable=False),
        sa.Column("issuer", sa.String(300), nullable=False),
    )
    op.create_index("ix_cds_feedback_card_id", "cds_feedback", ["card_id"])


def downgrade() -> None:
    op.drop_table("cds_feedback")
    op.drop_table("cds_cards")
