"""The hostile prescriptions of tests/hostile/exposure/ through the real commands: mme, segments, window and
registry. Each file holds good rows (patient G001) beside hostile ones; every command must finish as for
a file with problem rows (exit 0, a line of what was not counted), with no traceback, the good rows as
they are without the hostile ones, and each hostile row `insufficient_data` naming its field.

A file is added here whenever a review finds a new way in (tests/hostile/README.md).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from taperwise.cli import app
from taperwise.store import open_store
from taperwise.store.models import PrescriptionRecord, TrajectorySegment

CORPUS = Path(__file__).parent / "exposure"
LATEST = "2026-06-30"  # the range in force for these tests (TAPERWISE_LATEST_DATE), whatever the day
AS_OF = "2025-03-31"
# Each hostile row and the field its reason must name.
EXPECTED: dict[str, dict[str, str]] = {
    "huge_numbers.csv": {
        "BIG-1": "days_supply 1e20 is out of range",
        "BIG-2": "quantity 1e32 is out of range",
        "BIG-3": "units_per_day 1e30 is out of range",
        "BIG-4": "strength 1e30 is out of range",
        "BIG-5": "covered_days (quantity ÷ units_per_day) is out of range",
        "BIG-6": "daily_mme (strength × units_per_day × factor) is out of range",
        "BIG-7": "days_supply 1e308 is out of range",
    },
    "implausible_dates.csv": {
        "OLD-1": "start_date 1850-02-01 is before the earliest plausible date (1900-01-01)",
        "FAR-1": f"start_date 9999-12-01 is after the latest plausible date ({LATEST})",
        "LONG-1": f"end_date 2035-02-22 is after the latest plausible date ({LATEST})",
        "BC-1": "start_date '2025-02-01 (BC)' is not a date",
        "Y10K-1": "start_date '10000-01-01' is not a date",
        "ZERO-1": "start_date 0001-01-01 is before the earliest plausible date (1900-01-01)",
    },
}
runner = CliRunner()


@pytest.fixture(autouse=True)
def fixed_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAPERWISE_LATEST_DATE", LATEST)
    monkeypatch.delenv("TAPERWISE_EARLIEST_DATE", raising=False)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def good_rows_only(source: Path, target: Path) -> Path:
    rows = [row for row in read_csv(source) if row["patient_id"] == "G001"]
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return target


def run(*args: str) -> Result:
    result = runner.invoke(app, list(args))
    # exit 0 as for any file with problem rows; a traceback would leave an exception other than the exit
    assert result.exit_code == 0, result.output
    assert result.exception is None, result.exception
    assert "Traceback" not in result.output
    return result


def test_every_hostile_file_is_in_the_expectations():
    assert sorted(path.name for path in CORPUS.glob("*.csv")) == sorted(EXPECTED)


# DuckDB through the CLI; the engines agree on this corpus (tests/exposure/test_plausible.py).
@pytest.mark.parametrize("engine", ["duckdb"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_mme_reports_each_hostile_row_naming_its_field_and_keeps_the_good_rows(
    name: str, engine: str, tmp_path: Path
):
    out, alone = tmp_path / "mme.csv", tmp_path / "alone.csv"
    result = run("mme", str(CORPUS / name), "-o", str(out), "--engine", engine)
    assert "insufficient_data" in result.output
    rows = {row["rx_id"]: row for row in read_csv(out)}
    for rx_id, words in EXPECTED[name].items():
        assert rows[rx_id]["status"] == "insufficient_data", rx_id
        assert words in rows[rx_id]["reason"], rx_id
        assert rows[rx_id]["daily_mme"] == "", rx_id
    run(
        "mme", str(good_rows_only(CORPUS / name, tmp_path / "good.csv")), "-o", str(alone), "--engine", engine
    )
    assert [row for row in rows.values() if row["patient_id"] == "G001"] == read_csv(alone)
    metadata = json.loads((tmp_path / "mme.metadata.json").read_text(encoding="utf-8"))
    assert metadata["plausible_dates"] == {"earliest": "1900-01-01", "latest": LATEST}
    assert metadata["engine"] == engine


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_segments_and_window_run_and_give_the_good_patient_what_it_has_alone(name: str, tmp_path: Path):
    good = good_rows_only(CORPUS / name, tmp_path / "good.csv")
    for rule in ("add", "carry-forward"):
        run("segments", str(CORPUS / name), "-o", str(tmp_path / "seg.csv"), "--early-refills", rule)
        run("segments", str(good), "-o", str(tmp_path / "seg-good.csv"), "--early-refills", rule)
        segments = read_csv(tmp_path / "seg.csv")
        assert [s for s in segments if s["patient_id"] == "G001"] == read_csv(tmp_path / "seg-good.csv")
        assert all("1900-01-01" <= s["start_date"] <= s["end_date"] <= LATEST for s in segments)
    window = ("--start", "2025-01-01", "--end", "2025-03-31")
    result = run("window", str(CORPUS / name), *window, "-o", str(tmp_path / "win.csv"))
    assert "not counted" in result.output
    run("window", str(good), *window, "-o", str(tmp_path / "win-good.csv"))
    by_patient = {row["patient_id"]: row for row in read_csv(tmp_path / "win.csv")}
    assert [by_patient["G001"]] == read_csv(tmp_path / "win-good.csv")
    recorded = json.loads((tmp_path / "win.metadata.json").read_text(encoding="utf-8"))
    assert recorded["plausible_dates"]["latest"] == LATEST


# DuckDB through the CLI; the engines agree on this corpus (tests/exposure/test_plausible.py).
@pytest.mark.parametrize("engine", ["duckdb"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_registry_lists_the_hostile_patients_with_their_problems_and_records_the_range(
    name: str, engine: str, tmp_path: Path
):
    out = tmp_path / "registry.csv"
    run("registry", str(CORPUS / name), "--as-of", AS_OF, "-o", str(out), "--engine", engine)
    rows = {row["patient_id"]: row for row in read_csv(out)}
    alone = tmp_path / "alone.csv"
    run(
        "registry",
        str(good_rows_only(CORPUS / name, tmp_path / "good.csv")),
        "--as-of",
        AS_OF,
        "-o",
        str(alone),
    )
    assert rows["G001"] == read_csv(alone)[0]
    hostile = {row["patient_id"] for row in read_csv(CORPUS / name)} - {"G001"}
    assert hostile <= set(rows)  # nobody vanishes: each is listed with a problem record
    assert all(int(rows[p]["problem_records_180d"]) >= 1 for p in hostile)
    segments = read_csv(tmp_path / "registry.segments.csv")
    assert all("1900-01-01" <= s["start_date"] <= s["end_date"] <= LATEST for s in segments)
    metadata = json.loads((tmp_path / "registry.metadata.json").read_text(encoding="utf-8"))
    assert metadata["plausible_dates"] == {"earliest": "1900-01-01", "latest": LATEST}


@pytest.mark.parametrize("command", ["mme", "segments", "registry"])
def test_a_range_setting_that_is_not_a_date_refuses_the_run_naming_it(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("TAPERWISE_LATEST_DATE", "next year")
    extra = ["--as-of", AS_OF] if command == "registry" else []
    result = runner.invoke(
        app, [command, str(CORPUS / "huge_numbers.csv"), *extra, "-o", str(tmp_path / "o.csv")]
    )
    assert result.exit_code == 2
    assert "TAPERWISE_LATEST_DATE='next year': use a date as YYYY-MM-DD" in result.output
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_registry_publish_stores_the_hostile_rows_as_reported_and_no_date_outside_the_range(
    name: str, tmp_path: Path
):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    out = tmp_path / "registry.csv"
    run(
        "registry",
        str(CORPUS / name),
        "--as-of",
        AS_OF,
        "-o",
        str(out),
        "--publish",
        "--db",
        url,
        "--org",
        "ORG-H",
    )
    store = open_store(url)
    try:
        with store.session() as s:
            stored = {r.rx_id: r for r in s.scalars(select(PrescriptionRecord))}
            segments = list(s.scalars(select(TrajectorySegment)))
            for rx_id in EXPECTED[name]:
                assert stored[rx_id].status == "insufficient_data", rx_id
            dates = [d for r in stored.values() for d in (r.start_date, r.end_date) if d is not None]
            dates += [d for seg in segments for d in (seg.start_date, seg.end_date)]
            assert dates
            assert all("1900-01-01" <= d.isoformat() <= LATEST for d in dates)
            # a number beyond its bound is not stored (the reason quotes it as written), the row is
            if name == "huge_numbers.csv":
                assert (stored["BIG-1"].days_supply, stored["BIG-2"].quantity) == (None, None)
                assert "1e20" in (stored["BIG-1"].reason or "")
    finally:
        store.close()
