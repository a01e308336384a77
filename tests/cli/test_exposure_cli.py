"""The exposure commands as a data manager uses them: files in, files out, one-line errors, exit codes."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from taperwise.cli import app

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "prescriptions.csv"
runner = CliRunner()


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_mme_writes_one_row_per_input_row_in_order_with_contract_columns(tmp_path: Path):
    out = tmp_path / "mme.csv"
    result = runner.invoke(app, ["mme", str(SAMPLE), "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = read_csv(out)
    assert [r["rx_id"] for r in rows] == [r["rx_id"] for r in read_csv(SAMPLE)]
    contract = ["rx_id", "patient_id", "ingredient", "strength", "strength_unit", "units_per_day",
                "covered_days", "mme_factor", "factor_source", "daily_mme", "status", "reason"]  # fmt: skip
    assert list(rows[0])[: len(contract)] == contract
    assert {r["status"] for r in rows} <= {
        "ok",
        "excluded",
        "not_opioid",
        "insufficient_data",
        "unrecognized",
    }
    assert all(r["reason"] for r in rows if r["status"] != "ok")


def test_mme_reads_parquet_and_writes_parquet(tmp_path: Path):
    source = tmp_path / "rx.parquet"
    pq.write_table(pacsv.read_csv(SAMPLE), source)
    out = tmp_path / "mme.parquet"
    result = runner.invoke(app, ["mme", str(source), "-o", str(out), "--factors", "cdc-2016"])
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.num_rows == len(read_csv(SAMPLE))
    assert str(table.schema.field("daily_mme").type) == "decimal128(18, 4)"


def test_a_file_missing_required_columns_is_refused_naming_them(tmp_path: Path):
    source = tmp_path / "bad.csv"
    source.write_text("patient_id,drug,start_date\np1,Oxycodone 5 MG Oral Tablet,2025-01-01\n")
    result = runner.invoke(app, ["mme", str(source), "-o", str(tmp_path / "o.csv")])
    assert result.exit_code == 2
    assert "required column(s) missing: rx_id, days_supply, quantity" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "the file is empty"), (None, "no such file")],
    ids=["empty-file", "missing-file"],
)
def test_an_unusable_file_gives_a_one_line_error_and_exit_code_2(
    tmp_path: Path, content: str | None, message: str
):
    source = tmp_path / "input.csv"
    if content is not None:
        source.write_text(content)
    result = runner.invoke(app, ["segments", str(source), "-o", str(tmp_path / "o.csv")])
    assert result.exit_code == 2
    assert message in result.output


def test_a_line_the_reader_cannot_split_gives_a_one_line_error_naming_it(tmp_path: Path):
    source = tmp_path / "wide.csv"
    header = "patient_id,rx_id,drug,start_date,days_supply,quantity"
    source.write_text(header + "\n" + ",".join(["x"] * 20) + "\n", encoding="utf-8")
    for out in ("o.csv", "o.parquet"):
        result = runner.invoke(app, ["mme", str(source), "-o", str(tmp_path / out)])
        assert result.exit_code == 2
        said = " ".join(result.output.split())
        assert "wide.csv: cannot be read" in said
        assert "Line: 2" in said
        assert "Traceback" not in result.output
        assert not (tmp_path / out).exists()  # no empty file left as if it were a result


def test_unknown_factor_set_is_refused_naming_the_known_ones(tmp_path: Path):
    result = runner.invoke(app, ["mme", str(SAMPLE), "-o", str(tmp_path / "o.csv"), "--factors", "cdc-1999"])
    assert result.exit_code == 2
    assert "known sets: cdc-2016, cdc-2022, uk-fpm, uk-openprescribing" in result.output


def test_segments_and_window_write_their_contract_columns(tmp_path: Path):
    segments = tmp_path / "segments.csv"
    window = tmp_path / "window.csv"
    assert runner.invoke(app, ["segments", str(SAMPLE), "-o", str(segments)]).exit_code == 0
    args = ["window", str(SAMPLE), "--start", "2025-01-01", "--end", "2025-03-31", "-o", str(window)]
    assert runner.invoke(app, args).exit_code == 0
    # CONTRACTS.md's columns in their order, then the one added after (early refills)
    header = list(read_csv(segments)[0])
    assert header == ["patient_id", "start_date", "end_date", "daily_mme", "n_opioids", "overlapping_fills"]
    rows = read_csv(window)
    assert list(rows[0]) == ["patient_id", "total_mme", "days_supply_sum", "days_covered", "window_days",
                             "mme1", "mme2", "mme3", "mme4"]  # fmt: skip
    assert {r["window_days"] for r in rows} == {"90"}


def test_early_refills_carried_forward_on_request_and_an_unknown_rule_is_refused(tmp_path: Path):
    source = tmp_path / "rx.csv"
    source.write_text(
        "patient_id,rx_id,drug,start_date,days_supply,quantity\n"
        "p1,a,Oxycodone Hydrochloride 10 MG Oral Tablet,2025-01-01,30,60\n"
        "p1,b,Oxycodone Hydrochloride 10 MG Oral Tablet,2025-01-26,30,60\n",
        encoding="utf-8",
    )
    added, carried = tmp_path / "added.csv", tmp_path / "carried.csv"
    assert runner.invoke(app, ["segments", str(source), "-o", str(added)]).exit_code == 0
    args = ["segments", str(source), "-o", str(carried), "--early-refills", "carry-forward"]
    assert runner.invoke(app, args).exit_code == 0
    assert [(r["daily_mme"], r["overlapping_fills"]) for r in read_csv(added)] == [
        ("30.0000", "0"), ("60.0000", "1"), ("30.0000", "0")
    ]  # fmt: skip
    assert [(r["start_date"], r["end_date"], r["daily_mme"]) for r in read_csv(carried)] == [
        ("2025-01-01", "2025-03-01", "30.0000")
    ]
    window = [
        "window",
        str(source),
        "--start",
        "2025-01-01",
        "--end",
        "2025-03-31",
        "-o",
        str(tmp_path / "w.csv"),
    ]
    assert runner.invoke(app, [*window, "--early-refills", "carry-forward"]).exit_code == 0
    assert read_csv(tmp_path / "w.csv")[0]["mme4"] == "30.0000"
    refused = runner.invoke(app, [*window, "--early-refills", "shift"])
    assert refused.exit_code == 2
    assert "early-refill rule 'shift' is not known; choose one of add, carry-forward" in refused.output


def test_window_end_before_start_is_refused(tmp_path: Path):
    args = [
        "window",
        str(SAMPLE),
        "--start",
        "2025-03-01",
        "--end",
        "2025-01-01",
        "-o",
        str(tmp_path / "w.csv"),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "before --start" in result.output


@pytest.mark.parametrize("command", ["mme", "segments", "window", "taper plan", "taper adapt"])
def test_every_command_has_help_with_an_example(command: str):
    result = runner.invoke(app, [*command.split(), "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output or "example" in result.output


@pytest.mark.parametrize("command", ["segments", "window"])
def test_segments_and_window_say_how_many_rows_were_not_counted(tmp_path: Path, command: str):
    args = [command, str(SAMPLE), "-o", str(tmp_path / "out.csv")]
    if command == "window":
        args += ["--start", "2025-01-01", "--end", "2025-03-31"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "not counted: 5 excluded, 3 insufficient_data, 3 not_opioid, 1 unrecognized" in said


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_an_output_that_cannot_be_written_is_refused_naming_it_without_a_traceback(
    tmp_path: Path, suffix: str
):
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x", encoding="utf-8")
    out = a_file / f"mme{suffix}"
    result = runner.invoke(app, ["mme", str(SAMPLE), "-o", str(out)])
    assert result.exit_code == 2
    assert f"{out}: cannot be written ({a_file} is a file, not a folder)" in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize(
    "args",
    [
        ["mme", "{rx}", "-o", "{rx}"],
        ["segments", "{rx}", "-o", "{rx}"],
        ["window", "{rx}", "--start", "2025-01-01", "--end", "2025-03-31", "-o", "{rx}"],
        ["registry", "{rx}", "--as-of", "2025-03-31", "-o", "{rx}"],
        ["registry", "{rx}", "--as-of", "2025-03-31", "-o", "{folder}/rx.csv"],  # its segments beside
    ],
    ids=["mme", "segments", "window", "registry", "registry-segments"],
)
def test_an_output_over_the_input_is_refused_and_the_input_kept(tmp_path: Path, args: list[str]):
    rx = tmp_path / "rx.segments.csv" if "{folder}" in args[-1] else tmp_path / "rx.csv"
    rx.write_bytes(SAMPLE.read_bytes())
    argv = [a.format(rx=rx, folder=tmp_path) for a in args]
    result = runner.invoke(app, argv)
    assert result.exit_code == 2
    assert "is the input file; write the output to another file" in " ".join(result.output.split())
    assert rx.read_bytes() == SAMPLE.read_bytes()


@pytest.mark.parametrize("link", ["hard", "symbolic"])
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_an_output_linked_to_the_input_is_refused_and_the_input_kept(tmp_path: Path, link: str, suffix: str):
    rx = tmp_path / f"rx{suffix}"
    if suffix == ".csv":
        rx.write_bytes(SAMPLE.read_bytes())
    else:
        assert runner.invoke(app, ["ingest", "csv", str(SAMPLE), "-o", str(rx)]).exit_code == 0
    before = rx.read_bytes()
    other = tmp_path / f"other{suffix}"
    if link == "hard":
        os.link(rx, other)
    else:
        other.symlink_to(rx)
    result = runner.invoke(app, ["mme", str(rx), "-o", str(other)])
    assert result.exit_code == 2
    assert "is the input file" in " ".join(result.output.split())
    assert rx.read_bytes() == before
