"""CSV cells a spreadsheet would run as a formula, written so that it shows them as text — and read back
as they were (ADR 0015).

Spreadsheets treat a cell that starts with `=`, `+`, `-` or `@` (and, in some, a tab or carriage return)
as a formula: an rx_id of `=HYPERLINK("http://…","click")` in a registry CSV opened by a data manager
becomes a live link, `=cmd|…` a command prompt. Every CSV taperwise writes puts an apostrophe before
such a text cell (OWASP's advice; the apostrophe is the spreadsheets' own "this is text" mark and is not
shown). A plain number (`-5`, `+1.5e3`) is not a formula and is left alone.

Every CSV taperwise reads takes that apostrophe off again (`unguard_sql` in DuckDB, GUARDED_PATTERN in
Spark, `unguard_text` for one value), so a CSV written by one command and read by the next carries
the same values as Parquet would: ids still join, nothing is renamed. The one value this changes is a
source value that itself began with an apostrophe and then a formula character; no identifier, drug
name or date has that form. Parquet is never guarded: it is not opened by spreadsheets as text.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

FORMULA_START = "=+-@\t\r"
# RE2 (Arrow, DuckDB) and Python's re read these the same way.
_FORMULA = "^[=+\\-@\\t\\r]"
_NUMBER = "^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?$"
GUARDED_PATTERN = "^'[=+\\-@\\t\\r]"  # RE2 and Java regular expressions alike
_NUMBER_RE = re.compile(_NUMBER)


def guard_text(value: str) -> str:
    """One cell as written: an apostrophe before a formula-looking text."""
    if value and value[0] in FORMULA_START and not _NUMBER_RE.match(value):
        return "'" + value
    return value


def unguard_text(value: str) -> str:
    """One cell as read: the apostrophe of `guard_text` taken off."""
    if len(value) > 1 and value[0] == "'" and value[1] in FORMULA_START:
        return value[1:]
    return value


def _is_text(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def guard_arrow(batch: pa.RecordBatch) -> pa.RecordBatch:
    """`batch` with every text column guarded (other columns as they are)."""
    columns = []
    for column in batch.columns:
        if _is_text(column.type):
            risky = pc.and_(
                pc.match_substring_regex(column, _FORMULA),
                pc.invert(pc.match_substring_regex(column, _NUMBER)),
            )
            guarded = pc.binary_join_element_wise(
                pa.scalar("'", column.type), column, pa.scalar("", column.type)
            )
            column = pc.if_else(pc.fill_null(risky, False), guarded, column)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema)


def guard_table(table: pa.Table) -> pa.Table:
    return pa.Table.from_batches([guard_arrow(b) for b in table.to_batches()], schema=table.schema)


def unguard_sql(expression: str) -> str:
    """DuckDB SQL for a VARCHAR `expression` as read from a CSV: the guard's apostrophe taken off."""
    quote = "''''"  # one apostrophe, as an SQL string literal
    pattern = GUARDED_PATTERN.replace("'", "''")
    return (
        f"CASE WHEN starts_with({expression}, {quote}) AND regexp_matches({expression}, '{pattern}') "
        f"THEN substr({expression}, 2) ELSE {expression} END"
    )
