"""Huge numbers and implausible dates (issue 11, items 10-11): per-row `insufficient_data`, on every engine.

A value beyond the bounds of `taperwise.plausible` used to refuse the whole file (an engine cast out of
range); a date outside the plausible range made a segment nobody could publish. Each test runs on DuckDB
and on Spark (local mode), with an explicit date range so that the answer does not depend on the day.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from taperwise.exposure.engine import connect
from taperwise.exposure.mme import EXTRA_COLUMNS, MME_COLUMNS, prescription_mme
from taperwise.exposure.options import ENGINES
from taperwise.exposure.prescriptions import ROW, read_prescriptions
from taperwise.exposure.refills import carry_forward
from taperwise.exposure.registry import registry
from taperwise.exposure.segments import constant_segments
from taperwise.knowledge.registry import load_priority_rules, load_registry_settings
from taperwise.plausible import MAX_DAYS_SUPPLY, DateRange, number_problem
from tests.exposure.helpers import OXY_ER_30, OXY_IR_5

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "hostile" / "exposure"
RANGE = DateRange(dt.date(1900, 1, 1), dt.date(2026, 6, 30))
AS_OF = dt.date(2025, 3, 31)
HEADER = ("patient_id", "rx_id", "drug", "start_date", "days_supply", "quantity", "units_per_day",
          "strength", "strength_unit")  # fmt: skip


def write(path: Path, rows: list[tuple[str, ...]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def mme_on(engine: str, path: Path, dates: DateRange = RANGE) -> list[dict[str, Any]]:
    with connect(engine) as con:
        rows = prescription_mme(read_prescriptions(path, con), dates=dates)
        return con.to_pyarrow(rows.order_by(ROW).select(*MME_COLUMNS, *EXTRA_COLUMNS)).to_pylist()


def by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["rx_id"]: row for row in rows}


GOOD = [
    ("G1", "g1", OXY_ER_30, "2025-01-01", "30", "60", "2", "", ""),
    ("G1", "g2", OXY_IR_5, "2025-02-15", "30", "120", "", "", ""),
]


@pytest.mark.parametrize("engine", ENGINES)
def test_numbers_beyond_their_bounds_are_insufficient_data_naming_the_field_on_every_engine(
    engine: str, tmp_path: Path
):
    hostile = [
        ("B1", "days", OXY_ER_30, "2025-02-01", "1e20", "60", "2", "", ""),
        ("B2", "quantity", OXY_ER_30, "2025-02-01", "30", "1e32", "2", "", ""),
        ("B3", "sig", OXY_ER_30, "2025-02-01", "30", "60", "1e30", "", ""),
        ("B4", "strength", OXY_IR_5, "2025-02-01", "30", "60", "2", "1e30", "mg"),
        ("B5", "duration", OXY_IR_5, "2025-02-01", "", "100", "0.0000001", "", ""),
        ("B6", "dose", OXY_IR_5, "2025-02-01", "1", "10000000", "", "", ""),
        ("B7", "huge", OXY_IR_5, "2025-02-01", "1e308", "1e308", "1e308", "1e308", "mg"),
    ]
    rows = by_id(mme_on(engine, write(tmp_path / "rx.csv", GOOD + hostile)))
    reasons = {rx_id: rows[rx_id]["reason"] for rx_id in ("days", "quantity", "sig", "strength")}
    assert reasons == {
        "days": "days_supply 1e20 is out of range (at most 3660)",
        "quantity": "quantity 1e32 is out of range (at most 1e+07)",
        "sig": "units_per_day 1e30 is out of range (at most 10000)",
        "strength": "strength 1e30 is out of range (at most 1e+07)",
    }
    # the words are plausible.py's (the value shown as written)
    assert reasons["days"] == number_problem(1e20, "days_supply", MAX_DAYS_SUPPLY).replace("1e+20", "1e20")
    assert (
        rows["duration"]["reason"] == "covered_days (quantity ÷ units_per_day) is out of range (at most 3660)"
    )
    assert rows["dose"]["reason"].startswith("daily_mme (strength × units_per_day × factor) is out of range")
    assert all(f in rows["huge"]["reason"] for f in ("days_supply", "quantity", "units_per_day", "strength"))
    for rx_id, _ in reasons.items():
        assert rows[rx_id]["status"] == "insufficient_data"
        assert rows[rx_id]["daily_mme"] is None
    assert all(rows[rx_id]["status"] == "insufficient_data" for rx_id in ("duration", "dose", "huge"))
    # the rest as before: the good rows are the rows of the file without the hostile ones
    alone = by_id(mme_on(engine, write(tmp_path / "good.csv", GOOD)))
    assert [rows["g1"], rows["g2"]] == [alone["g1"], alone["g2"]]
    assert rows["days"]["covered_days"] == 30  # the sig still bounds the supply: only the field is refused


@pytest.mark.parametrize("engine", ENGINES)
def test_dates_outside_the_plausible_range_are_insufficient_data_and_never_written(
    engine: str, tmp_path: Path
):
    hostile = [
        ("D1", "old", OXY_ER_30, "1850-02-01", "30", "60", "2", "", ""),
        ("D2", "far", OXY_ER_30, "9999-12-01", "60", "120", "2", "", ""),
        ("D3", "long", OXY_IR_5, "2025-02-15", "3660", "3660", "", "", ""),
        ("D4", "bc", OXY_IR_5, "2025-02-01 (BC)", "30", "120", "", "", ""),
        ("D5", "first", OXY_IR_5, "0001-01-01", "30", "120", "", "", ""),
    ]
    rows = by_id(mme_on(engine, write(tmp_path / "rx.csv", GOOD + hostile)))
    assert rows["old"]["reason"] == RANGE.problem(dt.date(1850, 2, 1), "start_date")
    assert rows["far"]["reason"] == RANGE.problem(dt.date(9999, 12, 1), "start_date")
    assert rows["long"]["reason"] == RANGE.problem(dt.date(2035, 2, 22), "end_date")
    # DuckDB reads this as a date before Christ, Spark as 2025: neither, on every engine
    assert rows["bc"]["reason"] == "start_date '2025-02-01 (BC)' is not a date (YYYY-MM-DD)"
    assert rows["first"]["reason"] == RANGE.problem(dt.date(1, 1, 1), "start_date")
    for rx_id in ("old", "far", "long", "bc", "first"):
        assert rows[rx_id]["status"] == "insufficient_data"
        assert rows[rx_id]["supply"] is False
        assert rows[rx_id]["end_date"] is None
    assert rows["long"]["start_date"] == dt.date(2025, 2, 15)  # a plausible start is kept for the registry
    alone = by_id(mme_on(engine, write(tmp_path / "good.csv", GOOD)))
    assert [rows["g1"], rows["g2"]] == [alone["g1"], alone["g2"]]


@pytest.mark.parametrize("engine", ENGINES)
def test_the_range_is_the_one_passed_in_so_a_run_is_reproducible(engine: str, tmp_path: Path):
    path = write(tmp_path / "rx.csv", [("P", "p1", OXY_IR_5, "2025-02-15", "30", "120", "", "", "")])
    (inside,) = mme_on(engine, path)
    (after,) = mme_on(engine, path, DateRange(dt.date(1900, 1, 1), dt.date(2025, 3, 1)))
    assert inside["status"] == "ok"
    assert after["status"] == "insufficient_data"
    assert after["reason"] == "end_date 2025-03-16 is after the latest plausible date (2025-03-01)"


# On DuckDB; Spark gives the same registry rows (test_duckdb_and_spark_agree_on_the_hostile_corpus).
@pytest.mark.parametrize("engine", ["duckdb"])
def test_a_patient_with_an_out_of_range_value_has_an_incomplete_dose_never_a_lower_one(engine: str):
    with connect(engine) as con:
        for name in ("huge_numbers", "implausible_dates"):
            rows = prescription_mme(read_prescriptions(CORPUS / f"{name}.csv", con), dates=RANGE)
            table = registry(rows, AS_OF, load_registry_settings(), load_priority_rules(), dates=RANGE)
            result = {row["patient_id"]: row for row in con.to_pyarrow(table).to_pylist()}
            assert result["G001"]["dose_complete"] is True
            # a good fill beside one whose supply, quantity, sig or end is out of range: a lower bound
            incomplete = ("B001", "B002", "B003", "B004", "B005", "B006", "B007")
            for patient in incomplete if name == "huge_numbers" else ("D003",):
                row = result[patient]
                assert row["dose_complete"] is False, patient
                assert row["high_dose_90"] is None, patient  # unknown, not false
                assert "out of range" in row["dose_gap"] or "plausible" in row["dose_gap"], patient
                assert "lower bound" in row["priority_reason"] or "ranked as if" in row["priority_reason"]
            assert result["B006" if name == "huge_numbers" else "D003"]["problem_records_180d"] == 1
            if name == "implausible_dates":
                # an undated record (its start is the implausible value) stays visible for data review
                assert result["D001"]["problem_records_180d"] == 1
                assert (
                    result["D002"]["priority_reason"]
                    == "opioid records that could not be used: review the data"
                )


@pytest.mark.parametrize("engine", ENGINES)
def test_carrying_forward_never_moves_supply_past_the_latest_plausible_date(engine: str, tmp_path: Path):
    # forty early refills of ninety days, all on one day: carried forward, ten years of supply
    stacked = [("S", f"s{n}", OXY_IR_5, "2025-01-01", "90", "360", "", "", "") for n in range(40)]
    with connect(engine) as con:
        rows = prescription_mme(read_prescriptions(write(tmp_path / "rx.csv", stacked), con), dates=RANGE)
        moved = con.to_pyarrow(carry_forward(rows, RANGE).order_by(ROW)).to_pylist()
        segments = con.to_pyarrow(constant_segments(carry_forward(rows, RANGE))).to_pylist()
    assert max(row["end_date"] for row in moved if row["end_date"]) == RANGE.latest
    assert sum(row["end_date"] is None for row in moved) == 40 - 7  # 7 × 90 days reach 2026-06-30
    assert [(s["start_date"], s["end_date"]) for s in segments] == [(dt.date(2025, 1, 1), RANGE.latest)]


def test_duckdb_and_spark_agree_on_the_hostile_corpus():
    def outputs(engine: str) -> dict[str, list[dict[str, Any]]]:
        results, held = {}, []
        with connect(engine) as con:
            for path in sorted(CORPUS.glob("*.csv")):
                # held by the engine once, as the commands do: the outputs plan from it, not the file
                rows = prescription_mme(read_prescriptions(path, con), dates=RANGE).cache()
                held.append(rows)
                settings, rules = load_registry_settings(), load_priority_rules()
                results[f"{path.name} mme"] = rows.order_by(ROW).select(*MME_COLUMNS, *EXTRA_COLUMNS)
                results[f"{path.name} segments"] = constant_segments(rows)
                results[f"{path.name} registry"] = registry(rows, AS_OF, settings, rules, dates=RANGE)
            computed = {name: con.to_pyarrow(expr).to_pylist() for name, expr in results.items()}
            for rows in held:
                rows.release()
            return computed

    on_duckdb, on_spark = outputs("duckdb"), outputs("spark")
    assert on_duckdb.keys() == on_spark.keys()
    for name in on_duckdb:
        assert on_spark[name] == on_duckdb[name], name


def test_the_shared_words_are_those_plausible_py_has_always_given_and_the_range_round_trips():
    assert (
        number_problem(1e20, "days_supply", MAX_DAYS_SUPPLY)
        == "days_supply 1e+20 is out of range (at most 3660)"
    )
    assert RANGE.problem(dt.date(1850, 1, 1), "start_date") == (
        "start_date 1850-01-01 is before the earliest plausible date (1900-01-01)"
    )
    assert RANGE.problem(dt.date(2030, 1, 1), "end_date") == (
        "end_date 2030-01-01 is after the latest plausible date (2026-06-30)"
    )
    assert DateRange.from_metadata({"plausible_dates": RANGE.as_metadata()}) == RANGE
    assert DateRange.from_metadata({}) is None
    assert (
        DateRange.from_metadata({"plausible_dates": {"earliest": "2030-01-01", "latest": "2020-01-01"}})
        is None
    )
