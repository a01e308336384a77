"""Patient ids compare bytewise on PostgreSQL too: the worklist's prefix search must not follow a language.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

The worklist searches a patient id prefix as the range `id >= term AND id < term || U+10FFFF`, answered
from the unique (organisation, external id) index. SQLite compares text bytewise, and so does a
PostgreSQL cluster initialised with the C locale; one with a language collation (en_US.UTF-8, ICU en-US)
does not, and there "S0" also found "s001". COLLATE "C" on the column (and so on its index) makes both
engines agree whatever locale the cluster was created with. SQLite needs no change.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "patients",
            "external_id",
            type_=sa.String(128, collation="C"),
            existing_type=sa.String(128),
            existing_nullable=False,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "patients",
            "external_id",
            type_=sa.String(128),
            existing_type=sa.String(128, collation="C"),
            existing_nullable=False,
        )
