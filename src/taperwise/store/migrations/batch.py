"""What the migrations that alter `registry_entries` share.

SQLite's batch mode copies the table and recreates its indexes from reflection, which loses the DESC of
the worklist index (and with it the sort-free worklist page); each such migration recreates the index as
0001 made it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

WORKLIST_INDEX = "ix_registry_entries_worklist"
_WORKLIST: list[str | sa.ColumnElement[object]] = [
    "snapshot_id",
    "priority",
    sa.literal_column("avg_daily_mme_90d DESC"),
    "id",
]


def recreate_worklist_index() -> None:
    op.drop_index(WORKLIST_INDEX, table_name="registry_entries")
    op.create_index(WORKLIST_INDEX, "registry_entries", _WORKLIST)
