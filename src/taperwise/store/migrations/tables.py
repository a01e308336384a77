"""What the migrations that create program tables share: every table stamped (`id`, `created_at`) with
its primary key named as the models name it, and foreign keys named by the project's convention
(`fk_<table>_<column>_<target>`). Its output is part of the schema of record: change it only together
with a new migration."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def fk(
    table: str, column: str, target: str, nullable: bool = False
) -> list[sa.Column[object] | sa.Constraint]:
    """An integer column referring to `target.id`, and its named constraint."""
    return [
        sa.Column(column, sa.Integer(), nullable=nullable),
        sa.ForeignKeyConstraint([column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}"),
    ]


def stamped_table(table: str, *columns: sa.Column[object] | sa.Constraint) -> None:
    """Create `table` with `id` (primary key) and `created_at` before its own columns."""
    op.create_table(
        table,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        *columns,
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
    )
