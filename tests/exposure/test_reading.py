"""Both ways of reading a prescriptions file — Arrow in Python, or DuckDB streaming it — agree row by row."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from taperwise.errors import UnusableInputError
from taperwise.exposure.engine import connect
from taperwise.exposure.mme import EXTRA_COLUMNS, MME_COLUMNS, prescription_mme
from taperwise.exposure.prescriptions import ROW, read_prescriptions

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "prescriptions.csv"


def typed_parquet(tmp_path: Path) -> Path:
    """The sample with real types (dates, integers) and upper-case names, as other tools write Parquet."""
    table = pacsv.read_csv(SAMPLE)
    table = table.rename_columns([name.upper() for name in table.column_names])
    path = tmp_path / "typed.parquet"
    pq.write_table(table, path)
    return path


@pytest.mark.parametrize("kind", ["csv", "typed-parquet"])
def test_streamed_and_arrow_reads_give_the_same_rows_in_the_same_order(tmp_path: Path, kind: str):
    path = SAMPLE if kind == "csv" else typed_parquet(tmp_path)
    columns = [*MME_COLUMNS, *EXTRA_COLUMNS]
    from_arrow = prescription_mme(read_prescriptions(path)).order_by(ROW).select(*columns).to_pyarrow()
    with connect("duckdb") as con:
        streamed = prescription_mme(read_prescriptions(path, con)).order_by(ROW).select(*columns)
        from_duckdb = con.to_pyarrow(streamed)
    assert from_duckdb.to_pylist() == from_arrow.to_pylist()
    assert from_duckdb.num_rows == 33


def test_streamed_read_refuses_a_file_missing_columns(tmp_path: Path):
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"patient_id": ["p1"], "drug": ["Oxycodone 5 MG Oral Tablet"]}), path)
    with connect("duckdb") as con, pytest.raises(UnusableInputError, match="required column"):
        read_prescriptions(path, con)


def test_streamed_read_keeps_row_order_of_a_large_csv(tmp_path: Path):
    # Large enough for DuckDB to read in parallel; the row numbers must still follow the file.
    path = tmp_path / "big.csv"
    lines = ["patient_id,rx_id,drug,start_date,days_supply,quantity"]
    lines += [
        f"p{i % 97},rx{i},Oxycodone Hydrochloride 5 MG Oral Tablet,2025-01-01,30,60" for i in range(300_000)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with connect("duckdb") as con:
        table = read_prescriptions(path, con)
        rows = con.to_pyarrow(table.order_by(ROW).select("rx_id", ROW))
    assert rows.column("rx_id").to_pylist()[:3] == ["rx0", "rx1", "rx2"]
    assert rows.column("rx_id").to_pylist() == [f"rx{i}" for i in range(300_000)]
