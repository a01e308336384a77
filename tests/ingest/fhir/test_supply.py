"""Supply durations of FHIR orders and dispenses: the precedence, the named assumption, hostile values.

Each case goes through `taperwise ingest fhir` and then `taperwise mme`, so what is checked is what a user
sees: the canonical row's `days_supply` and `supply_days_source`, the problems file, and the MME row's
status, covered days, reason and flags (docs/decisions/0012-order-supply-duration.md).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from taperwise.cli import app
from taperwise.ingest.fhir.supply import MAX_SUPPLY_DAYS, read_bounds, read_duration, read_period

runner = CliRunner()
OXY = {"text": "Oxycodone Hydrochloride 5 MG Oral Tablet"}  # 5 mg × 1.5 = 7.5 MME a tablet
FENTANYL = {"text": "Fentanyl 25 MCG/HR Transdermal Patch"}
ASSUMED_FLAG = "days_supply 30 assumed (--assume-order-days): the order gives no duration"


def sig(per_day: int = 4, prn: bool = False, unit: str = "TAB", **bounds: object) -> list[dict[str, Any]]:
    dosage: dict[str, Any] = {
        "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d", **bounds}},
        "doseAndRate": [{"doseQuantity": {"value": 1, "unit": unit}}],
    }
    if prn:
        dosage["asNeededBoolean"] = True
    return [dosage]


def days(value: object, code: object = "d") -> dict[str, object]:
    return {"value": value, "code": code}


def order(
    id_: str, dosage: list[dict[str, Any]] | None = None, medication: dict[str, str] = OXY, **supply: object
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest", "id": id_, "status": "active", "intent": "order",
        "subject": {"reference": "Patient/p1"}, "medicationCodeableConcept": medication,
        "authoredOn": "2024-01-01",
    }  # fmt: skip
    if dosage is not None:
        resource["dosageInstruction"] = dosage
    if supply:
        resource["dispenseRequest"] = supply
    return resource


def dispense(id_: str, dosage: list[dict[str, Any]] | None = None, **fields: object) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "MedicationDispense", "id": id_, "status": "completed",
        "subject": {"reference": "Patient/p1"}, "medicationCodeableConcept": OXY,
        "whenHandedOver": "2024-01-01",
    }  # fmt: skip
    if dosage is not None:
        resource["dosageInstruction"] = dosage
    return resource | fields


TAB120 = {"value": 120, "unit": "TAB"}
# One record per case of the issue: (a) stated, (b) quantity and a structured sig, (c) the sig's bounds,
# (d) only a validityPeriod, (e) only a sig; as orders and as dispenses.
ORDERS = [
    order("a", sig(), expectedSupplyDuration=days(30)),
    order("a-weeks", sig(), expectedSupplyDuration=days(2, "wk")),
    order("b", sig(), quantity=TAB120),
    order("b-prn", sig(prn=True), quantity=TAB120),
    order("b-patch", sig(1, unit="patch"), FENTANYL, quantity={"value": 10, "unit": "patch"}),
    order("c-duration", sig(boundsDuration=days(10))),
    order("c-period", sig(boundsPeriod={"start": "2024-01-01", "end": "2024-01-14"})),
    order("c-until", sig(boundsPeriod={"end": "2024-01-07"})),
    order("d", sig(), validityPeriod={"start": "2024-01-01", "end": "2024-06-30"}),
    order("e", sig()),
    order("e-quantity-only", None, quantity=TAB120),
]
DISPENSES = [
    dispense("da", sig(), daysSupply=days(30)),
    dispense("db", sig(), quantity=TAB120),
    dispense("dc", sig(boundsDuration=days(1, "wk"))),
    dispense("de", sig()),
]


@dataclass
class Run:
    """One ingest and one mme run: canonical rows, problems, MME rows and the metadata, by id."""

    result: Any
    rows: dict[str, dict[str, str]]
    problems: list[dict[str, str]]
    mme: dict[str, dict[str, str]]
    metadata: dict[str, Any]

    def problem(self, record: str, kind: str | None = None) -> list[dict[str, str]]:
        return [p for p in self.problems if p["record"] == record and kind in (None, p["kind"])]


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def ingest(tmp_path: Path, resources: list[dict[str, Any]], *options: str) -> Run:
    export = tmp_path / "export"
    export.mkdir(exist_ok=True)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for resource in resources:
        by_type.setdefault(resource["resourceType"], []).append(resource)
    for kind, items in by_type.items():
        (export / f"{kind}.ndjson").write_text("".join(json.dumps(r) + "\n" for r in items), encoding="utf-8")
    out = tmp_path / "out" / "rx.csv"
    result = runner.invoke(app, ["ingest", "fhir", str(export), "-o", str(out), *options])
    assert result.exit_code == 0, result.output
    mme = runner.invoke(app, ["mme", str(out), "-o", str(tmp_path / "out" / "mme.csv")])
    assert mme.exit_code == 0, mme.output
    return Run(
        result,
        {r["rx_id"]: r for r in _csv(out)},
        _csv(out.with_name("rx.problems.csv")),
        {r["rx_id"]: r for r in _csv(tmp_path / "out" / "mme.csv")},
        json.loads(out.with_name("rx.ingest.json").read_text(encoding="utf-8")),
    )


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return ingest(tmp_path_factory.mktemp("plain"), ORDERS + DISPENSES)


@pytest.fixture(scope="module")
def assumed(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return ingest(tmp_path_factory.mktemp("assumed"), ORDERS + DISPENSES, "--assume-order-days", "30")


# (rx_id, days_supply, supply_days_source, covered_days, status) without the option.
WITHOUT_OPTION = [
    ("MedicationRequest/a", "30", "stated", "30", "ok"),
    ("MedicationRequest/a-weeks", "14", "stated", "14", "ok"),
    # quantity ÷ units per day: days_supply stays empty, the exposure engine computes it (one rule).
    ("MedicationRequest/b", "", "quantity_per_day", "30", "ok"),
    ("MedicationRequest/b-prn", "", "quantity_per_day", "30", "ok"),
    ("MedicationRequest/b-patch", "", "quantity_per_day", "30", "ok"),  # 10 patches × 72 h worn one at once
    ("MedicationRequest/c-duration", "10", "sig_bounds", "10", "ok"),
    ("MedicationRequest/c-period", "14", "sig_bounds", "14", "ok"),
    ("MedicationRequest/c-until", "7", "sig_bounds", "7", "ok"),  # no start: from the order's date
    ("MedicationRequest/d", "", "", "", "insufficient_data"),
    ("MedicationRequest/e", "", "", "", "insufficient_data"),
    ("MedicationRequest/e-quantity-only", "", "", "", "insufficient_data"),
    ("MedicationDispense/da", "30", "stated", "30", "ok"),
    ("MedicationDispense/db", "", "quantity_per_day", "30", "ok"),
    ("MedicationDispense/dc", "7", "sig_bounds", "7", "ok"),
    ("MedicationDispense/de", "", "", "", "insufficient_data"),
]


@pytest.mark.parametrize(("rx_id", "days_supply", "source", "covered", "status"), WITHOUT_OPTION)
def test_each_duration_is_derived_in_order_and_named_on_its_row(
    plain: Run, rx_id: str, days_supply: str, source: str, covered: str, status: str
) -> None:
    row, mme = plain.rows[rx_id], plain.mme[rx_id]
    assert (row["days_supply"], row["supply_days_source"]) == (days_supply, source)
    assert (mme["covered_days"], mme["status"]) == (covered, status)
    if status == "ok" and "patch" not in rx_id:
        assert mme["daily_mme"] == "30.0000"  # 4 tablets a day of oxycodone 5 mg, whatever the duration


def test_without_the_option_a_missing_duration_says_what_is_missing(plain: Run) -> None:
    for rx_id in ("MedicationRequest/e", "MedicationRequest/d", "MedicationDispense/de"):
        assert (
            plain.mme[rx_id]["reason"] == "duration unknown: give days_supply, or quantity with units_per_day"
        )
    assert plain.mme["MedicationRequest/e-quantity-only"]["reason"].startswith("daily dose unknown")
    assert plain.metadata["options"] == {"assume_order_days": None}
    assert plain.metadata["assumptions"] == []
    assert "assumed" not in plain.metadata["supply_days_source"]
    assert "ASSUMED" not in plain.result.output


def test_a_validity_period_is_not_a_supply_duration_and_the_problems_file_says_so(plain: Run) -> None:
    [note] = plain.problem("d")
    assert note["kind"] == "validity_period_not_used"
    assert "MedicationRequest/d" in note["message"]
    assert "182 days" in note["message"]
    assert plain.rows["MedicationRequest/d"]["days_supply"] == ""


def test_the_sig_bounds_are_flagged_on_the_mme_row(plain: Run) -> None:
    bounds_flag = "days_supply from the sig's bounds (course length)"
    assert plain.mme["MedicationRequest/c-duration"]["flags"] == bounds_flag
    assert plain.mme["MedicationRequest/a"]["flags"] == ""
    assert plain.mme["MedicationRequest/b-prn"]["flags"] == "prn_max"  # quantity ÷ the sig's maximum


def test_the_assumption_gives_orders_with_only_a_sig_n_days_flagged_per_row(assumed: Run) -> None:
    for rx_id in ("MedicationRequest/e", "MedicationRequest/d"):
        row, mme = assumed.rows[rx_id], assumed.mme[rx_id]
        assert (row["days_supply"], row["supply_days_source"]) == ("30", "assumed")
        assert (mme["status"], mme["covered_days"], mme["daily_mme"]) == ("ok", "30", "30.0000")
        assert mme["flags"] == ASSUMED_FLAG
    assert assumed.problem("d") == []  # an assumed duration is not replaced by the validity period


def test_the_assumption_never_touches_a_dispense_or_a_derived_duration(plain: Run, assumed: Run) -> None:
    assert assumed.rows["MedicationDispense/de"]["supply_days_source"] == ""
    assert assumed.mme["MedicationDispense/de"]["status"] == "insufficient_data"
    for rx_id in plain.rows:
        if plain.rows[rx_id]["supply_days_source"]:
            assert assumed.rows[rx_id] == plain.rows[rx_id]
            assert assumed.mme[rx_id] == plain.mme[rx_id]


def test_the_assumption_does_not_make_up_a_dose_from_a_quantity(assumed: Run) -> None:
    row = assumed.rows["MedicationRequest/e-quantity-only"]
    assert (row["days_supply"], row["supply_days_source"]) == ("", "")
    assert assumed.mme["MedicationRequest/e-quantity-only"]["status"] == "insufficient_data"
    [note] = assumed.problem("e-quantity-only", "not_assumed")
    assert "sig gives no daily dose" in note["message"]


def test_the_assumption_is_recorded_in_the_metadata_and_the_summary(assumed: Run) -> None:
    [assumption] = assumed.metadata["assumptions"]
    assert (assumption["option"], assumption["days"], assumption["rows"]) == ("--assume-order-days", 30, 2)
    assert assumed.metadata["options"] == {"assume_order_days": 30}
    assert assumed.metadata["supply_days_source"]["assumed"] == 2
    assert "ASSUMED: --assume-order-days 30" in assumed.result.output


@pytest.mark.parametrize("value", ["0", "-5", "366", "30.5", "abc", "1e3", ""])
def test_an_out_of_range_assumption_is_refused_in_one_line(tmp_path: Path, value: str) -> None:
    export = tmp_path / "export"
    export.mkdir()
    (export / "MedicationRequest.ndjson").write_text(json.dumps(order("e", sig())) + "\n", encoding="utf-8")
    out = tmp_path / "out" / "rx.csv"
    result = runner.invoke(app, ["ingest", "fhir", str(export), "-o", str(out), "--assume-order-days", value])
    assert result.exit_code == 2
    assert f"--assume-order-days: {value!r} is not a whole number of days from 1 to 365" in result.output
    assert "Traceback" not in result.output
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_a_stated_duration_that_the_quantity_contradicts_is_kept_and_reported(tmp_path: Path) -> None:
    run = ingest(tmp_path, [
        order("long", sig(1), quantity=TAB120, expectedSupplyDuration=days(30)),
        order("near", sig(4), quantity={"value": 112, "unit": "TAB"}, expectedSupplyDuration=days(30)),
        # "As needed": quantity ÷ the maximum is the shortest the supply lasts; longer is expected.
        order("prn-slow", sig(4, prn=True), quantity=TAB120, expectedSupplyDuration=days(60)),
        order("prn-fast", sig(1, prn=True), quantity=TAB120, expectedSupplyDuration=days(30)),
        order("course", sig(4, boundsDuration=days(10)), quantity=TAB120),
    ])  # fmt: skip
    [long] = run.problem("long")
    assert long["kind"] == "conflicting_duration"
    assert "expectedSupplyDuration is 30 days but quantity 120 ÷ 1 units/day is 120 days" in long["message"]
    assert run.rows["MedicationRequest/long"]["days_supply"] == "30"
    assert run.rows["MedicationRequest/long"]["supply_days_source"] == "stated"
    assert run.problem("near") == []
    assert run.problem("prn-slow") == []
    assert run.problem("prn-fast", "conflicting_duration")
    [course] = run.problem("course")
    assert "quantity ÷ units per day is 30 days, longer than the sig's course of 10 days" in course["message"]
    assert run.rows["MedicationRequest/course"]["supply_days_source"] == "quantity_per_day"


def test_a_dispense_that_takes_its_orders_sig_takes_its_course_too(tmp_path: Path) -> None:
    run = ingest(tmp_path, [
        order("rq", sig(boundsDuration=days(5))),
        dispense("dq", authorizingPrescription=[{"reference": "MedicationRequest/rq"}]),
    ])  # fmt: skip
    row = run.rows["MedicationDispense/dq"]
    assert (row["units_per_day"], row["days_supply"], row["supply_days_source"]) == ("4", "5", "sig_bounds")
    assert run.mme["MedicationDispense/dq"]["status"] == "ok"


HOSTILE = [
    ("neg", {"expectedSupplyDuration": days(-30)}, None, "expectedSupplyDuration -30 d must be above zero"),
    ("zero", {"expectedSupplyDuration": days(0)}, None, "expectedSupplyDuration 0 d must be above zero"),
    ("huge", {"expectedSupplyDuration": days(100000)}, None, "is 100000 days, more than 365"),
    ("huge-mo", {"expectedSupplyDuration": days(13, "mo")}, None, "is 390 days, more than 365"),
    ("fraction", {"expectedSupplyDuration": days(2.5)}, None, "2.5 d is not a whole number of days"),
    ("text", {"expectedSupplyDuration": days("thirty")}, None, "value 'thirty' is not a number"),
    ("bool", {"expectedSupplyDuration": days(True)}, None, "value 'True' is not a number"),
    ("hours", {"expectedSupplyDuration": days(72, "h")}, None, "72 'h' is not in days, weeks or months"),
    ("no-unit", {"expectedSupplyDuration": {"value": 30}}, None, "expectedSupplyDuration 30 has no unit"),
    ("bare", {"expectedSupplyDuration": 30}, None, "'30' is not a Duration"),
    ("b-neg", {}, {"boundsDuration": days(-3)}, "boundsDuration -3 d must be above zero"),
    ("b-year", {}, {"boundsDuration": days(2, "a")}, "boundsDuration 2 'a' is not in days"),
    ("b-backwards", {}, {"boundsPeriod": {"start": "2024-02-01", "end": "2024-01-01"}},
     "boundsPeriod ends 2024-01-01 before it starts 2024-02-01"),
    ("b-partial", {}, {"boundsPeriod": {"start": "2024-01-01", "end": "2024-02"}},
     "boundsPeriod.end '2024-02' is not a full date"),
    ("b-impossible", {}, {"boundsPeriod": {"start": "2024-01-01", "end": "2024-02-31"}},
     "boundsPeriod.end '2024-02-31' is not a date"),
    ("b-long", {}, {"boundsPeriod": {"start": "2024-01-01", "end": "2026-01-01"}}, "732 days, more than 365"),
    ("b-range", {}, {"boundsRange": {"low": days(1), "high": days(5)}}, "boundsRange"),
]  # fmt: skip


@pytest.mark.parametrize(("id_", "supply", "bounds", "message"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_a_hostile_duration_is_a_problem_naming_the_record_never_used_nor_assumed_over(
    tmp_path: Path, id_: str, supply: dict[str, object], bounds: dict[str, object] | None, message: str
) -> None:
    run = ingest(tmp_path, [order(id_, sig(**(bounds or {})), **supply)], "--assume-order-days", "30")
    row = run.rows[f"MedicationRequest/{id_}"]
    assert (row["days_supply"], row["supply_days_source"]) == ("", "")
    problems = run.problem(id_)
    assert {p["kind"] for p in problems} <= {"bad_duration", "bad_unit", "not_assumed"}
    [bad] = [p for p in problems if p["kind"] != "not_assumed"]
    assert message in bad["message"]
    assert bad["message"].startswith(f"MedicationRequest/{id_}: ")
    # A record that states a duration which cannot be used is fixed at the source, not assumed over.
    [not_assumed] = run.problem(id_, "not_assumed")
    assert "states a duration that cannot be used" in not_assumed["message"]
    assert run.mme[f"MedicationRequest/{id_}"]["status"] == "insufficient_data"


def test_a_hostile_stated_duration_gives_way_to_the_records_own_quantity(tmp_path: Path) -> None:
    run = ingest(tmp_path, [order("neg-q", sig(), quantity=TAB120, expectedSupplyDuration=days(-30))])
    row = run.rows["MedicationRequest/neg-q"]
    assert (row["days_supply"], row["supply_days_source"]) == ("", "quantity_per_day")
    [bad] = run.problem("neg-q")
    assert bad["message"].endswith("not used, the duration is quantity ÷ units per day")
    mme = run.mme["MedicationRequest/neg-q"]
    assert (mme["status"], mme["covered_days"]) == ("ok", "30")


def test_concurrent_dosages_with_different_bounds_give_no_course() -> None:
    first = sig(boundsDuration=days(5))[0]
    second = sig(boundsDuration=days(10))[0]
    later = sig(boundsDuration=days(20))[0] | {"sequence": 2}
    reading, problems = read_bounds([first | {"sequence": 1}, second | {"sequence": 1}], "2024-01-01")
    assert reading.days is None
    assert "different bounds (5, 10 days)" in problems[0]
    reading, problems = read_bounds([first | {"sequence": 1}, later], "2024-01-01")
    assert (reading.days, problems) == (5, [])  # sequential phases: the first, as the dose is read


@pytest.mark.parametrize(
    ("duration", "expected"),
    [(days(4, "wk"), 28), (days(1, "mo"), 30), ({"value": 10, "unit": "days"}, 10),
     (days(MAX_SUPPLY_DAYS), MAX_SUPPLY_DAYS), (days(float("inf")), None), (days(float("nan")), None),
     (days(MAX_SUPPLY_DAYS + 1), None), (None, None)],
)  # fmt: skip
def test_durations_convert_to_whole_days_within_the_cap(duration: object, expected: int | None) -> None:
    assert read_duration(duration, "expectedSupplyDuration").days == expected


def test_an_open_ended_period_is_no_duration_and_no_problem() -> None:
    assert read_period({"start": "2024-01-01"}, "boundsPeriod", "2024-01-01").problem is None
    assert read_period({"start": "2024-01-01"}, "boundsPeriod", "2024-01-01").days is None
    assert read_period({"start": "2024-01-01", "end": "2024-01-01"}, "boundsPeriod", None).days == 1


def test_statement_ending_before_it_starts_is_reported(tmp_path: Path) -> None:
    statement = {
        "resourceType": "MedicationStatement", "id": "s1", "status": "active",
        "subject": {"reference": "Patient/p1"}, "medicationCodeableConcept": OXY,
        "effectivePeriod": {"start": "2024-03-01", "end": "2024-02-01"},
    }  # fmt: skip
    good = statement | {"id": "s2", "effectivePeriod": {"start": "2024-03-01", "end": "2024-03-10"}}
    run = ingest(tmp_path, [statement, good])
    [bad] = run.problem("s1")
    assert bad["kind"] == "bad_duration"
    assert "ends 2024-02-01 before it starts 2024-03-01" in bad["message"]
    assert run.rows["MedicationStatement/s2"]["supply_days_source"] == "effective_period"


def test_tabular_inputs_carry_no_source_and_read_as_before(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[3] / "examples" / "prescriptions.csv"
    out = tmp_path / "rx.csv"
    result = runner.invoke(app, ["ingest", "csv", str(example), "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = _csv(out)
    assert rows
    assert {row["supply_days_source"] for row in rows} == {""}
    assert list(rows[0])[-1] == "supply_days_source"  # after the contract's columns, order kept
    metadata = json.loads(out.with_name("rx.ingest.json").read_text(encoding="utf-8"))
    assert (metadata["reader"], metadata["assumptions"]) == ("csv", [])
