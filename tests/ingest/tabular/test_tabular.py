"""Canonical CSV/Parquet ingest, with a column mapping for other layouts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from taperwise.errors import UnusableInputError
from taperwise.ingest.tabular import read_tabular
from tests.ingest.omop.helpers import ingest

HERE = Path(__file__).parent
EXAMPLE = HERE.parents[2] / "examples" / "prescriptions.csv"
MAPPING = {
    "patient_id": "PAT_ID", "rx_id": "RX_NO", "drug": "Medication", "start_date": "Fill Date",
    "days_supply": "Days", "quantity": "Qty", "prescriber_id": "prescriber",
}  # fmt: skip


def test_canonical_example_passes_through_unchanged(tmp_path: Path) -> None:
    result = ingest(lambda sink: read_tabular(EXAMPLE, sink), tmp_path)
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    assert len(result.prescriptions) == len(lines) - 1
    first = dict(zip(lines[0].split(","), lines[1].split(","), strict=True))
    assert {k: v or None for k, v in first.items()}.items() <= result.prescriptions[0].items()
    assert result.problems == []


def test_mapping_renames_other_layouts_and_matches_case_insensitively(tmp_path: Path) -> None:
    result = ingest(lambda sink: read_tabular(HERE / "other_layout.csv", sink, MAPPING), tmp_path)
    first = result.rx("R1")
    assert (first["patient_id"], first["drug"], first["start_date"]) == (
        "P1", "Oxycodone Hydrochloride 5 MG Oral Tablet", "2024-01-01",
    )  # fmt: skip
    assert (first["days_supply"], first["quantity"], first["prescriber_id"]) == ("30", "120", "DR-A")


def test_bad_values_are_passed_through_for_the_engine_to_report(tmp_path: Path) -> None:
    result = ingest(lambda sink: read_tabular(HERE / "other_layout.csv", sink, MAPPING), tmp_path)
    assert result.rx("R4")["start_date"] == "01/04/2024"
    assert result.rx("R2")["quantity"] == "0"


def test_rows_without_identity_or_with_a_repeated_rx_id_become_problems(tmp_path: Path) -> None:
    result = ingest(lambda sink: read_tabular(HERE / "other_layout.csv", sink, MAPPING), tmp_path)
    assert [row["rx_id"] for row in result.prescriptions] == ["R1", "R2", "R4"]
    (missing,) = result.problems_of("missing_field")
    assert (missing["source"], missing["record"]) == ("other_layout.csv row 3", "R3")
    (duplicate,) = result.problems_of("duplicate")
    assert (duplicate["source"], duplicate["record"]) == ("other_layout.csv row 4", "R2")
    assert result.sink.records_read["csv_row"] == 5


@pytest.mark.parametrize("separator", [",", "\t"], ids=["csv", "tsv"])
def test_a_row_with_the_wrong_number_of_fields_becomes_a_problem_and_the_rest_is_read(
    tmp_path: Path, separator: str
) -> None:
    rows = [
        ["patient_id", "rx_id", "drug", "start_date", "days_supply", "quantity"],
        ["P1", "R1", "Oxycodone Hydrochloride 5 MG Oral Tablet", "2025-01-01", "30", "60"],
        [
            "P2",
            "R2",
            "Acetaminophen 325 MG",
            "Oxycodone Hydrochloride 5 MG Oral Tablet",
            "2025-01-01",
            "30",
            "60",
        ],
        ["P3", "R3", "Oxycodone Hydrochloride 5 MG Oral Tablet", "2025-01-01", "30", "60"],
    ]
    source = tmp_path / ("ragged.tsv" if separator == "\t" else "ragged.csv")
    source.write_text("".join(separator.join(row) + "\n" for row in rows), encoding="utf-8")
    result = ingest(lambda sink: read_tabular(source, sink), tmp_path)
    assert [row["rx_id"] for row in result.prescriptions] == ["R1", "R3"]
    (malformed,) = result.problems_of("malformed_row")
    assert (malformed["source"], malformed["record"]) == (f"{source.name} row 2", "R2")
    assert "does not have the 6 fields of the header" in malformed["message"]


def test_missing_required_columns_are_all_named(tmp_path: Path) -> None:
    with pytest.raises(UnusableInputError, match=r"missing: .*rx_id.*start_date.*days_supply.*quantity"):
        ingest(lambda sink: read_tabular(HERE / "other_layout.csv", sink, {"patient_id": "PAT_ID"}), tmp_path)


def test_a_mapped_column_that_is_absent_is_named_with_its_source(tmp_path: Path) -> None:
    with pytest.raises(UnusableInputError, match=r"drug \(mapped from 'Drug Name'\)"):
        ingest(
            lambda sink: read_tabular(HERE / "other_layout.csv", sink, {**MAPPING, "drug": "Drug Name"}),
            tmp_path,
        )


def test_unknown_canonical_name_in_the_mapping_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnusableInputError, match=r"unknown canonical column.*dose"):
        ingest(lambda sink: read_tabular(EXAMPLE, sink, {"dose": "x"}), tmp_path)


def test_parquet_with_typed_columns_is_read_as_text(tmp_path: Path) -> None:
    path = tmp_path / "rx.parquet"
    pq.write_table(
        pa.table({
            "patient_id": ["P1"], "rx_id": ["R1"], "drug": ["Morphine Sulfate 15 MG Oral Tablet"],
            "start_date": pa.array([pa.scalar(0, pa.timestamp("s")).as_py()], pa.timestamp("s")),
            "days_supply": [30], "quantity": [60.0],
        }),
        path,
    )  # fmt: skip
    (row,) = ingest(lambda sink: read_tabular(path, sink), tmp_path / "out").prescriptions
    assert (row["start_date"], row["days_supply"], row["quantity"]) == ("1970-01-01", "30", "60.0")


def test_patients_and_events_beside_the_file_are_carried_over(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE, tmp_path / "rx.csv")
    (tmp_path / "rx.patients.csv").write_text("patient_id,sex\nS001,female\n")
    (tmp_path / "rx.events.csv").write_text("patient_id,date,kind\nS001,2025-02-01,emergency_visit\n")
    result = ingest(lambda sink: read_tabular(tmp_path / "rx.csv", sink), tmp_path / "out")
    assert result.patients == [
        {
            "patient_id": "S001",
            "sex": "female",
            "birth_date": None,
            "death_date": None,
            "organisation_id": None,
        }
    ]
    assert [(e["patient_id"], e["kind"]) for e in result.events] == [("S001", "emergency_visit")]


def test_empty_or_missing_file_is_unusable(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(UnusableInputError, match="empty"):
        ingest(lambda sink: read_tabular(empty, sink), tmp_path)
    with pytest.raises(UnusableInputError, match="no such file"):
        ingest(lambda sink: read_tabular(tmp_path / "absent.csv", sink), tmp_path)
