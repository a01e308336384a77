"""Every way of reading a prescriptions file — Arrow in Python, DuckDB streaming it, Spark reading it on
its executors — agrees row by row."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from taperwise.errors import UnusableInputError
from taperwise.exposure.engine import connect
from taperwise.exposure.mme import EXTRA_COLUMNS, MME_COLUMNS, prescription_mme
from taperwise.exposure.prescriptions import ROW, read_errors, read_prescriptions, spark_location

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "prescriptions.csv"


def typed_parquet(tmp_path: Path) -> Path:
    """The sample with real types (dates, integers) and upper-case names, as other tools write Parquet."""
    table = pacsv.read_csv(SAMPLE)
    table = table.rename_columns([name.upper() for name in table.column_names])
    path = tmp_path / "typed.parquet"
    pq.write_table(table, path)
    return path


def numbered_csv(path: Path, rows: int) -> Path:
    """A prescriptions file whose rx_id is its row number: rx0, rx1, …"""
    lines = ["patient_id,rx_id,drug,start_date,days_supply,quantity"]
    lines += [
        f"p{i % 97},rx{i},Oxycodone Hydrochloride 5 MG Oral Tablet,2025-01-01,30,60" for i in range(rows)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
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
    path = numbered_csv(tmp_path / "big.csv", 300_000)
    with connect("duckdb") as con:
        table = read_prescriptions(path, con)
        rows = con.to_pyarrow(table.order_by(ROW).select("rx_id", ROW))
    assert rows.column("rx_id").to_pylist()[:3] == ["rx0", "rx1", "rx2"]
    assert rows.column("rx_id").to_pylist() == [f"rx{i}" for i in range(300_000)]


@pytest.mark.parametrize("kind", ["csv", "typed-parquet"])
def test_spark_reads_the_file_itself_and_agrees_with_duckdb(tmp_path: Path, kind: str):
    path = SAMPLE if kind == "csv" else typed_parquet(tmp_path)
    columns = [*MME_COLUMNS, *EXTRA_COLUMNS]
    with connect("duckdb") as con:
        expected = con.to_pyarrow(
            prescription_mme(read_prescriptions(path, con)).order_by(ROW).select(*columns)
        )
    with connect("spark") as con:
        rows = prescription_mme(read_prescriptions(path, con)).order_by(ROW).select(*columns)
        assert con.to_pyarrow(rows).to_pylist() == expected.to_pylist()


def test_spark_reads_quoted_fields_as_duckdb_does(tmp_path: Path):
    path = tmp_path / "quoted.csv"
    texts = ['Oxycodone Hydrochloride 5 MG Oral Tablet "IR", blister', "Morphine Sulfate 15 MG Oral Tablet"]
    table = pa.table(
        {
            "patient_id": ["p1", "p2"],
            "rx_id": ["r1", "r2"],
            "drug": texts,
            "start_date": ["2025-01-01", "2025-01-02"],
            "days_supply": ["30", ""],
            "quantity": ["60", "30"],
        }
    )
    pacsv.write_csv(table, path)  # Arrow doubles the quotes inside a quoted field
    with connect("duckdb") as con:
        expected = con.to_pyarrow(read_prescriptions(path, con).order_by(ROW)).to_pylist()
    with connect("spark") as con:
        got = con.to_pyarrow(read_prescriptions(path, con).order_by(ROW)).to_pylist()
    assert [row["drug"] for row in got] == texts
    assert got == expected


def test_spark_numbers_rows_in_file_order_across_input_splits(tmp_path: Path):
    path = numbered_csv(tmp_path / "split.csv", 20_000)
    with connect("spark") as con:
        session = con._session
        before = session.conf.get("spark.sql.files.maxPartitionBytes")
        session.conf.set("spark.sql.files.maxPartitionBytes", "65536")  # about 16 splits of this file
        try:
            table = read_prescriptions(path, con)
            splits = con._session.table(table.get_name()).rdd.getNumPartitions()
            rows = con.to_pyarrow(table.order_by(ROW).select("rx_id", ROW))
        finally:
            session.conf.set("spark.sql.files.maxPartitionBytes", before)
    assert splits > 4
    assert rows.column(ROW).to_pylist() == list(range(20_000))
    assert rows.column("rx_id").to_pylist() == [f"rx{i}" for i in range(20_000)]


def test_spark_reads_a_folder_of_parquet_files(tmp_path: Path):
    folder = tmp_path / "export"
    folder.mkdir()
    sample = pacsv.read_csv(SAMPLE, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    pq.write_table(sample.slice(0, 20), folder / "part-0.parquet")
    pq.write_table(sample.slice(20), folder / "part-1.parquet")
    with connect("spark") as con:
        rows = con.to_pyarrow(read_prescriptions(folder, con).select("rx_id", ROW))
    assert sorted(rows.column(ROW).to_pylist()) == list(range(sample.num_rows))
    assert sorted(rows.column("rx_id").to_pylist()) == sorted(sample.column("rx_id").to_pylist())


def test_duckdb_refuses_a_folder_and_says_which_engine_reads_one(tmp_path: Path):
    with connect("duckdb") as con, pytest.raises(UnusableInputError, match="--engine spark"):
        read_prescriptions(tmp_path, con)


def test_spark_refuses_missing_input_and_missing_columns(tmp_path: Path):
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"patient_id": ["p1"], "drug": ["Oxycodone 5 MG Oral Tablet"]}), bad)
    with connect("spark") as con:
        with pytest.raises(UnusableInputError, match="required column"):
            read_prescriptions(bad, con)
        with pytest.raises(UnusableInputError, match="no such file"):
            read_prescriptions(tmp_path / "absent.csv", con)


@pytest.mark.parametrize(
    ("given", "location"),
    [
        ("s3a://bucket/exports/rx.parquet", "s3a://bucket/exports/rx.parquet"),
        (Path("s3a://bucket/exports/rx.parquet"), "s3a://bucket/exports/rx.parquet"),  # as typer hands it
        (Path("hdfs://namenode/rx"), "hdfs://namenode/rx"),
        (Path("/data/rx.parquet"), "/data/rx.parquet"),
        (Path("rx.csv"), "rx.csv"),
    ],
)
def test_spark_locations_keep_their_scheme(given: Path | str, location: str):
    assert spark_location(given) == location


RAGGED = (
    "patient_id,rx_id,drug,start_date,days_supply,quantity\n"
    "p1,r1,Oxycodone Hydrochloride 5 MG Oral Tablet,2025-01-01,30,60\n"
    # an unquoted comma in the product name shifts every later value one column to the right
    "p2,r2,Acetaminophen 325 MG, Oxycodone Hydrochloride 5 MG Oral Tablet,2025-01-01,30,60\n"
    "p3,r3,Oxycodone Hydrochloride 5 MG Oral Tablet,2025-01-01,30\n"  # a field short
    'p4,r4,"Oxycodone Hydrochloride 5 MG Oral Tablet",2025-01-01,30,""\n'  # present but empty: not ragged
)


@pytest.mark.parametrize("engine", ["arrow", "duckdb", "spark"])
def test_a_row_with_the_wrong_number_of_fields_is_reported_on_that_row_and_the_rest_is_read(
    tmp_path: Path, engine: str
):
    path = tmp_path / "ragged.csv"
    path.write_text(RAGGED, encoding="utf-8")
    columns = ["rx_id", "status", "reason"]
    if engine == "arrow":
        rows = prescription_mme(read_prescriptions(path)).order_by(ROW).select(*columns).to_pyarrow()
    else:
        with connect(engine) as con:
            rows = con.to_pyarrow(
                prescription_mme(read_prescriptions(path, con)).order_by(ROW).select(*columns)
            )
    by_id = {row["rx_id"]: row for row in rows.to_pylist()}
    assert list(by_id) == ["r1", "r2", "r3", "r4"]  # every row back, in order
    assert by_id["r1"]["status"] == "ok"
    for rx_id, row_number in (("r2", 2), ("r3", 3)):
        assert by_id[rx_id]["status"] == "unrecognized"
        assert by_id[rx_id]["reason"] == (
            f"input row {row_number} does not have the 6 fields of the header: its values may be shifted, "
            "so it is not read"
        )
    assert by_id["r4"]["status"] == "insufficient_data"  # an empty quantity is a missing value, reported
    assert "header" not in by_id["r4"]["reason"]


def test_a_ragged_row_far_into_the_file_is_still_caught(tmp_path: Path):
    path = numbered_csv(tmp_path / "late.csv", 60_000)
    with path.open("a", encoding="utf-8") as handle:
        handle.write("p1,rx-late,Oxycodone Hydrochloride 5 MG Oral Tablet,2025-01-01,30,60,surplus\n")
    with connect("duckdb") as con:
        table = prescription_mme(read_prescriptions(path, con))
        last = con.to_pyarrow(table.filter(table.rx_id == "rx-late").select("status", "reason")).to_pylist()
    assert last == [
        {
            "status": "unrecognized",
            "reason": "input row 60001 does not have the 6 fields of the header: its values may be shifted, "
            "so it is not read",
        }
    ]


def test_a_row_with_many_surplus_fields_refuses_the_file_naming_the_line(tmp_path: Path):
    path = tmp_path / "wide.csv"
    path.write_text(RAGGED.splitlines()[0] + "\n" + ",".join(["x"] * 20) + "\n", encoding="utf-8")
    refused = r"wide.csv: cannot be read .*Line: 2"
    with connect("duckdb") as con, pytest.raises(UnusableInputError, match=refused), read_errors(path):
        con.to_pyarrow(read_prescriptions(path, con))
    with pytest.raises(UnusableInputError, match=refused):
        read_prescriptions(path)
