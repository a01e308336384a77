"""Bad bytes, byte-order marks, deep nesting and implausible values, reader by reader (issue 11, 9-11)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import shutil
from pathlib import Path

import pytest

from taperwise.errors import UnusableInputError
from taperwise.ingest.fhir import read_fhir
from taperwise.ingest.omop import read_omop
from taperwise.ingest.plausibility import row_problems
from taperwise.ingest.tabular import read_tabular
from taperwise.ingest.text import BAD_BYTES, MAX_JSON_DEPTH, json_depth, parse_json, utf8_csv
from taperwise.plausible import DateRange
from tests.ingest.omop.helpers import CDM, ingest

BULK = Path(__file__).parent / "fhir" / "data" / "bulk"
RANGE = DateRange(dt.date(1900, 1, 1), dt.date(2027, 12, 31))
HEADER = "patient_id,rx_id,drug,start_date,days_supply,quantity"
GOOD = "P1,R1,Oxycodone Hydrochloride 5 MG Oral Tablet,2024-01-01,30,120"


def test_json_depth_is_counted_outside_strings_and_bounded_before_parsing() -> None:
    assert json_depth(b'{"a": [1, {"b": 2}]}') == 3
    assert json_depth(b'{"text": "' + b"[" * 500 + b'"}') == 1  # brackets inside a string
    assert json_depth(b'{"t": "\\"[[[[", "x": [' + b"[]," * 200 + b"1]}") == 3
    deep = b"[" * 100_000 + b"]" * 100_000
    value, problem = parse_json(deep)
    assert value is None
    assert problem is not None
    assert problem.kind == "nested_too_deep"
    nested = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert parse_json(nested)[1] is None  # at the limit: read


def test_parse_json_accepts_a_byte_order_mark_and_names_a_bad_byte() -> None:
    assert parse_json(b'\xef\xbb\xbf{"resourceType": "Patient"}') == ({"resourceType": "Patient"}, None)
    value, problem = parse_json(b'{"id": "a\xffb"}')
    assert value is None
    assert problem is not None
    assert (problem.kind, problem.message) == (
        "bad_encoding", "byte 0xff at position 10 is not UTF-8 text (save the export as UTF-8)",
    )  # fmt: skip


def test_utf8_csv_copies_only_a_file_that_is_not_utf8_and_refuses_a_bad_header(tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_bytes(b"\xef\xbb\xbf" + f"{HEADER}\n{GOOD}\n".encode())
    assert utf8_csv(good, tmp_path) is None
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(gzip.compress(f"{HEADER}\n".encode() + b"P1,R\xfe\xff1,x,2024-01-01,1,1\n"))
    copy = utf8_csv(bad, tmp_path)
    assert copy is not None
    assert copy.suffix == ".csv"
    assert copy.read_text(encoding="utf-8").splitlines()[1] == f"P1,R{BAD_BYTES}{BAD_BYTES}1,x,2024-01-01,1,1"
    header = tmp_path / "header.csv"
    header.write_bytes(b"patient\xff_id,rx_id\nP1,R1\n")
    with pytest.raises(UnusableInputError, match="header row holds bytes that are not UTF-8"):
        utf8_csv(header, tmp_path)


def test_fhir_first_record_after_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    export = tmp_path / "export"
    shutil.copytree(BULK, export)
    path = export / "MedicationRequest.ndjson"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    result = ingest(lambda sink: read_fhir(export, sink), tmp_path)
    expected = ingest(lambda sink: read_fhir(BULK, sink), tmp_path / "plain")
    assert result.prescriptions == expected.prescriptions
    assert result.problems == expected.problems


def test_fhir_bad_byte_and_deep_line_are_problems_and_the_rest_of_the_file_is_read(tmp_path: Path) -> None:
    export = tmp_path / "export"
    shutil.copytree(BULK, export)
    path = export / "MedicationRequest.ndjson"
    lines = path.read_bytes().splitlines()
    lines[1:1] = [b'{"resourceType":"MedicationRequest","id":"bad\xff"}', b"[" * 5000 + b"]" * 5000]
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = ingest(lambda sink: read_fhir(export, sink), tmp_path)
    expected = ingest(lambda sink: read_fhir(BULK, sink), tmp_path / "plain")
    assert result.prescriptions == expected.prescriptions
    kinds = {(p["source"], p["kind"]) for p in result.problems}
    assert {
        ("MedicationRequest.ndjson:2", "bad_encoding"),
        ("MedicationRequest.ndjson:3", "nested_too_deep"),
    } <= kinds


def test_fhir_bundle_with_a_byte_order_mark_is_read_and_a_deep_one_reported(tmp_path: Path) -> None:
    folder = tmp_path / "bundles"
    folder.mkdir()
    patient = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1960-01-01"}
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": patient}]}
    (folder / "a.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(bundle).encode())
    (folder / "b.json").write_bytes(
        b'{"resourceType": "Bundle", "entry": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    )
    result = ingest(lambda sink: read_fhir(folder, sink), tmp_path)
    assert [p["patient_id"] for p in result.patients] == ["p1"]
    (deep,) = [p for p in result.problems if p["source"] == "b.json"]
    assert deep["kind"] == "nested_too_deep"


def test_fhir_truncated_gzip_is_reported_after_the_lines_it_holds(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    data = gzip.compress((BULK / "Patient.ndjson").read_bytes())
    (folder / "Patient.ndjson.gz").write_bytes(data[: len(data) - 12])
    result = ingest(lambda sink: read_fhir(folder, sink), tmp_path)
    assert [p["kind"] for p in result.problems if p["kind"] == "unreadable_file"] == ["unreadable_file"]


def test_csv_row_with_bad_bytes_is_a_problem_and_the_rest_is_read(tmp_path: Path) -> None:
    source = tmp_path / "rx.csv"
    bad = b"P2,R2,Oxycodone Hydrochloride 5 MG Oral Tablet,2024-01-01,30,120".replace(b"Oral", b"Or\xe9l")
    source.write_bytes(f"{HEADER}\n{GOOD}\n".encode() + bad + b"\nP3,R3,x,2024-02-01,7,14\n")
    result = ingest(lambda sink: read_tabular(source, sink), tmp_path)
    assert [row["rx_id"] for row in result.prescriptions] == ["R1", "R3"]
    (problem,) = result.problems
    assert (problem["source"], problem["record"], problem["kind"]) == ("rx.csv row 2", "R2", "bad_encoding")
    assert problem["message"].startswith("drug hold(s) bytes that are not UTF-8 text")


def test_plausibility_names_the_field_and_leaves_text_it_cannot_read_to_the_engine() -> None:
    row = {"rx_id": "R1", "start_date": "2024-01-01", "days_supply": "1e20", "quantity": "9" * 400}
    assert [kind for kind, _ in row_problems(row, RANGE)] == ["out_of_range", "out_of_range"]
    assert row_problems(row, RANGE)[1][1].startswith(f"quantity {'9' * 40} is out of range")
    assert row_problems({"start_date": "01/04/2024", "days_supply": "thirty"}, RANGE) == []
    assert row_problems({"start_date": "2024-01-01", "days_supply": "30", "units_per_day": "4"}, RANGE) == []
    (end,) = row_problems({"start_date": "2027-12-20", "days_supply": "30"}, RANGE)
    assert end[1].startswith("supply end 2028-01-18 (start_date 2027-12-20 + days_supply 30 − 1) is after")
    (nan,) = row_problems({"units_per_day": "nan"}, RANGE)
    assert nan[1].startswith("units_per_day is not a finite number")
    (bc,) = row_problems({"start_date": "0001-01-01 (BC)"}, RANGE)
    assert bc[0] == "implausible_date"


def test_omop_nan_quantity_and_an_overflowing_dispense_window_do_not_stop_the_ingest(tmp_path: Path) -> None:
    folder = tmp_path / "cdm"
    shutil.copytree(CDM, folder)
    with (folder / "drug_exposure.csv").open("a", encoding="utf-8") as handle:
        handle.write("301,5,1,2024-01-10,2024-01-20,38000175,40,2000000000,,30,7,,PERCOCET 5/325\n")
        handle.write("302,5,1,2024-01-12,2024-02-10,38000177,NaN,30,,30,7,,PERCOCET 5/325\n")
    result = ingest(lambda sink: read_omop(folder, sink), tmp_path)
    assert {"301", "302"} <= {row["rx_id"] for row in result.prescriptions}
    assert {(p["record"], p["kind"]) for p in result.problems_of("out_of_range")} == {
        ("301", "out_of_range"), ("302", "out_of_range"),
    }  # fmt: skip


def test_the_date_range_in_force_is_in_the_metadata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAPERWISE_EARLIEST_DATE", "1950-01-01")
    monkeypatch.setenv("TAPERWISE_LATEST_DATE", "2030-06-30")
    result = ingest(lambda sink: read_omop(CDM, sink), tmp_path)
    assert result.sink.metadata()["plausible"] == {
        "dates": {"earliest": "1950-01-01", "latest": "2030-06-30"},
        "at_most": {"days_supply": 3660, "quantity": 10_000_000, "units_per_day": 10_000},
    }
