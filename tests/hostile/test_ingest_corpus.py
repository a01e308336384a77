"""The hostile ingest corpus (tests/hostile/ingest/) through the real CLI: each bad record is one problem
naming its file and line (or row, or record) and the field, no traceback, and every good record written.

- fhir/: the bulk test export with a byte-order mark before line 1, a line holding a 0xff byte, a line
  nested 100,000 deep (added here: 200 KB of brackets), a request for 1e32 tablets started in 1850 and one
  started on 9999-12-31;
- csv/hostile.csv: a byte-order mark, a row holding 0xff, days_supply 1e20, quantity 1e32, starts in 1850
  and 9999, a supply running out years after the latest plausible date;
- omop/: drug_exposure.csv with a byte-order mark, a row holding 0xff, a dispense of 2,000,000,000 days
  that an order falls inside (its window once overflowed DuckDB's dates), a NaN quantity (once a
  decimal.InvalidOperation), 1e32 tablets, starts in 1850 and 9999.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from taperwise.cli import app

CORPUS = Path(__file__).parent / "ingest"
BULK = Path(__file__).parents[1] / "ingest" / "fhir" / "data" / "bulk"
LATEST = "2027-12-31"  # fixed, so that the supply-end row does not depend on the day the tests run
runner = CliRunner()


def _run(tmp_path: Path, reader: str, source: Path) -> tuple[str, list[dict[str, str]], dict[str, dict]]:
    out = tmp_path / "out" / "rx.parquet"
    result = runner.invoke(
        app, ["ingest", reader, str(source), "-o", str(out)], env={"TAPERWISE_LATEST_DATE": LATEST}
    )
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code == 0, output  # a file with problems is read: exit 0, problems listed
    assert result.exception is None
    assert "Traceback" not in output
    with out.with_name("rx.problems.csv").open(encoding="utf-8", newline="") as handle:
        problems = list(csv.DictReader(handle))
    rows = {str(row["rx_id"]): row for row in pq.read_table(out).to_pylist()}
    metadata = json.loads(out.with_name("rx.ingest.json").read_text(encoding="utf-8"))
    assert metadata["plausible"]["dates"] == {"earliest": "1900-01-01", "latest": LATEST}
    return output, problems, rows


def _one(problems: list[dict[str, str]], kind: str, record: str = "") -> dict[str, str]:
    found = [p for p in problems if p["kind"] == kind and (not record or p["record"] == record)]
    assert len(found) == 1, (kind, record, problems)
    return found[0]


def test_fhir_bad_bytes_deep_nesting_and_a_bom_are_per_line_problems(tmp_path: Path) -> None:
    export = tmp_path / "export"
    shutil.copytree(CORPUS / "fhir", export)
    with (export / "MedicationRequest.ndjson").open("ab") as handle:
        handle.write(b"[" * 100_000 + b"]" * 100_000 + b"\n")
    _, problems, rows = _run(tmp_path, "fhir", export)
    clean = tmp_path / "clean"
    _, _, expected = _run(clean, "fhir", BULK)
    # Every good record is there: the first line (after the byte-order mark) and all after the bad ones.
    assert set(expected) <= set(rows)
    assert "MedicationRequest/rx1" in rows
    bad = _one(problems, "bad_encoding")
    assert bad["source"] == "MedicationRequest.ndjson:2"
    assert "0xff" in bad["message"]
    deep = _one(problems, "nested_too_deep")
    assert deep["source"] == "MedicationRequest.ndjson:12"
    assert "nested more than 100 deep" in deep["message"]
    # Out-of-range numbers and implausible dates: reported on the record, the row written as given.
    quantity = _one(problems, "out_of_range", "rx-huge")
    assert quantity["source"] == "MedicationRequest.ndjson:10"
    assert quantity["message"].startswith("quantity 1e+32")
    assert rows["MedicationRequest/rx-huge"]["quantity"] == "1e+32"
    assert "start_date 1850-01-01 is before" in _one(problems, "implausible_date", "rx-huge")["message"]
    assert "start_date 9999-12-31 is after" in _one(problems, "implausible_date", "rx-late")["message"]
    assert rows["MedicationRequest/rx-late"]["start_date"] == "9999-12-31"


def test_csv_bad_bytes_and_implausible_values_are_per_row_problems(tmp_path: Path) -> None:
    _, problems, rows = _run(tmp_path, "csv", CORPUS / "csv" / "hostile.csv")
    assert {"S001-01", "S001-02", "S001-03"} <= set(rows)  # the first row despite the byte-order mark
    assert "patient_id" in next(iter(rows.values()))
    bad = _one(problems, "bad_encoding")
    assert (bad["source"], bad["record"]) == ("hostile.csv row 4", "S001-bad")
    assert bad["message"].startswith("drug hold(s) bytes that are not UTF-8")
    assert "S001-bad" not in rows
    expected = {
        "S001-days": (
            "out_of_range",
            "days_supply 1e+20 is out of range (at most 3660)",
            "days_supply",
            "1e20",
        ),
        "S001-qty": ("out_of_range", "quantity 1e+32 is out of range", "quantity", "1e32"),
        "S001-old": ("implausible_date", "start_date 1850-01-01 is before", "start_date", "1850-01-01"),
        "S001-future": ("implausible_date", "start_date 9999-12-31 is after", "start_date", "9999-12-31"),
        "S001-end": ("implausible_date", "supply end 2035-02-16", "days_supply", "3000"),
    }
    for rx_id, (kind, words, field, value) in expected.items():
        problem = _one(problems, kind, rx_id)
        assert problem["source"].startswith("hostile.csv row ")
        assert problem["message"].startswith(words)
        assert rows[rx_id][field] == value  # written as the source gave it, never clamped


def test_omop_bad_bytes_overflowing_supplies_and_nan_are_per_record_problems(tmp_path: Path) -> None:
    _, problems, rows = _run(tmp_path, "omop", CORPUS / "omop")
    assert {"102", "201", "202", "204", "205", "206", "207"} <= set(rows)  # 101: superseded by 102
    bad = _one(problems, "bad_encoding")
    assert (bad["source"], bad["record"]) == ("drug_exposure.csv row 5", "203")
    assert "203" not in rows
    assert "drug_source_value" in bad["message"]
    assert _one(problems, "out_of_range", "201")["message"].startswith("days_supply 2e+09 is out of range")
    assert rows["201"]["days_supply"] == "2000000000"
    assert _one(problems, "out_of_range", "204")["message"].startswith("quantity is not a finite number")
    assert _one(problems, "out_of_range", "205")["message"].startswith("quantity 1e+32")
    assert "1850-01-01 is before" in _one(problems, "implausible_date", "206")["message"]
    assert "9999-12-31 is after" in _one(problems, "implausible_date", "207")["message"]


@pytest.mark.parametrize("reader", ["fhir", "csv", "omop"])
def test_an_unusable_date_range_setting_is_one_line_not_a_traceback(tmp_path: Path, reader: str) -> None:
    source = {"fhir": CORPUS / "fhir", "csv": CORPUS / "csv" / "hostile.csv", "omop": CORPUS / "omop"}[reader]
    result = runner.invoke(
        app,
        ["ingest", reader, str(source), "-o", str(tmp_path / "rx.parquet")],
        env={"TAPERWISE_EARLIEST_DATE": "yesterday"},
    )
    assert result.exit_code == 2
    assert result.exception is not None
    assert isinstance(result.exception, SystemExit)
    assert "TAPERWISE_EARLIEST_DATE" in result.output + (result.stderr if result.stderr_bytes else "")
