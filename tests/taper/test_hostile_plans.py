"""Plan files and requests written by someone else: every refusal names the file and the field, never a
traceback, never Rich markup from the file interpreted, never a dose the engine did not write."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from taperwise.commands.taper import app as taper_app
from taperwise.errors import RequestValidationError
from taperwise.taper import TaperPlan, adapt_plan, plan_taper
from tests.taper.builders import morphine_er, request

cli = typer.Typer()
cli.add_typer(taper_app, name="taper")
runner = CliRunner()
VISIT = {"date": "2025-02-03", "preference": "continue"}


@pytest.fixture(scope="module")
def saved() -> dict[str, Any]:
    plan = plan_taper(request(morphine_er(75, 3, [15, 30, 60])))
    return plan.to_dict()


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(raw: dict[str, Any]) -> None:
        target = raw
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return edit


DOSE = ["steps", 0, "administrations", 0, "dose"]
HOSTILE = {
    "nan dose": (_set(DOSE, float("nan")), "plan.steps[0].administrations", "NaN"),
    "negative dose": (_set(DOSE, -5), "plan.steps[0].administrations", "-5 mg"),
    "unmakeable dose": (_set(DOSE, 7), "plan.steps[0].administrations", "whole units of 15, 30, 60"),
    "dose above the original": (
        _set(["baseline", "administrations", 0, "dose"], 150),
        "plan.baseline",
        "150",
    ),
    "huge integer": (_set(DOSE, 10**30), "plan", "far too large"),
    "dose as text": (_set(DOSE, "75"), "plan", "'75' where a number belongs"),
    "week date": (_set(["steps", 0, "start_date"], "2025-W02"), "plan", "date YYYY-MM-DD"),
    "unknown drug index": (
        _set(["steps", 0, "administrations", 0, "regimen_index"], 99),
        "plan.steps[0].administrations",
        "regimen index 99",
    ),
    "other format": (_set(["format"], "other/1"), "plan.format", "not a plan taperwise wrote"),
    "no paces": (_set(["paces"], []), "plan.paces", "0 paces for 1 drugs"),
    "invented times": (
        _set(["steps", 0, "administrations", 0, "time"], "[bold red]x[/]"),
        "plan.steps[0].administrations",
        "not a schedule",
    ),
    "empty regimen": (_set(["request"], {"regimen": []}), "plan.request.regimen", "at least one drug"),
    "steps not a list": (_set(["steps"], None), "plan", "not a readable taper plan"),
    "history without a date": (_set(["history"], [{"x": 1}]), "plan", "'date' is missing"),
    "a rapid pace": (_set(["paces", 0, "every_days"], 2), "plan.paces", "rapid taper, refused"),
    "a pace of 100 years": (_set(["paces", 0, "every_days"], 36_500), "plan.paces[0]", "at most 365"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_plan_is_refused_naming_the_field(saved: dict[str, Any], name: str) -> None:
    edit, field, words = HOSTILE[name]
    raw = copy.deepcopy(saved)
    edit(raw)
    with pytest.raises(RequestValidationError) as caught:
        adapt_plan(raw, VISIT)
    assert caught.value.field.startswith(field), caught.value.field
    assert words in caught.value.problem, caught.value.problem


def test_the_saved_plan_itself_adapts(saved: dict[str, Any]) -> None:
    assert adapt_plan(copy.deepcopy(saved), VISIT).steps


def _write(path: Path, content: Any) -> Path:
    path.write_text(json.dumps(content), encoding="utf-8")
    return path


def _adapt(tmp_path: Path, plan: Path, visit: dict[str, Any] = VISIT) -> Any:
    follow = _write(tmp_path / "follow-up.json", visit)
    return runner.invoke(cli, ["taper", "adapt", str(plan), str(follow), "-o", str(tmp_path / "new.json")])


def test_the_cli_names_the_plan_file_for_a_plan_field(tmp_path: Path, saved: dict[str, Any]) -> None:
    raw = copy.deepcopy(saved)
    _set(DOSE, -5)(raw)
    result = _adapt(tmp_path, _write(tmp_path / "edited-plan.json", raw))
    assert result.exit_code == 2
    assert "edited-plan.json: plan.steps[0].administrations" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "new.json").exists()


def test_a_device_is_not_read_forever(tmp_path: Path) -> None:
    result = runner.invoke(cli, ["taper", "plan", "/dev/zero", "-o", str(tmp_path / "p.json")])
    assert result.exit_code == 2
    assert "not a regular file" in result.output


def test_a_fifo_is_refused_without_opening_it(tmp_path: Path) -> None:
    fifo = tmp_path / "request.json"
    os.mkfifo(fifo)
    result = runner.invoke(cli, ["taper", "plan", str(fifo), "-o", str(tmp_path / "p.json")])
    assert result.exit_code == 2
    assert "not a regular file" in result.output


def test_markup_in_a_file_is_printed_as_it_is(tmp_path: Path) -> None:
    raw = request(morphine_er())
    raw["[red]evil[/red]"] = 1
    result = runner.invoke(
        cli, ["taper", "plan", str(_write(tmp_path / "r.json", raw)), "-o", str(tmp_path / "p.json")]
    )
    assert result.exit_code == 2
    assert "[red]evil[/red]" in result.output


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("dose", 10**40, "must be at most"),  # more digits than MAX_INTEGER_DIGITS: read as 1e40
        ("dose", "90", "must be a number"),
        ("times_per_day", "3", "must be a whole number"),
    ],
)
def test_request_numbers_must_be_json_numbers(tmp_path: Path, field: str, value: Any, words: str) -> None:
    raw = request(morphine_er())
    raw["regimen"][0][field] = value
    result = runner.invoke(
        cli, ["taper", "plan", str(_write(tmp_path / "r.json", raw)), "-o", str(tmp_path / "p.json")]
    )
    assert result.exit_code == 2
    assert f"regimen[0].{field}" in result.output
    assert words in result.output


@pytest.mark.parametrize("day", ["2025-W02-1", "20250106", "2025-1-6", "2025-01-06T00:00"])
def test_a_request_date_is_yyyy_mm_dd_only(day: str) -> None:
    with pytest.raises(RequestValidationError) as caught:
        plan_taper(request(morphine_er(), start_date=day))
    assert caught.value.field == "start_date"


def test_a_drug_listed_twice_in_doses_taken_is_refused(saved: dict[str, Any]) -> None:
    taken = [{"regimen_index": 0, "doses": [75, 75, 75]}, {"regimen_index": 0, "doses": [60, 60, 60]}]
    with pytest.raises(RequestValidationError) as caught:
        adapt_plan(copy.deepcopy(saved), {**VISIT, "doses_taken": taken})
    assert "listed twice" in caught.value.problem


def test_a_specialist_review_cannot_predate_the_referral(saved: dict[str, Any]) -> None:
    referred = adapt_plan(copy.deepcopy(saved), {**VISIT, "phq9_item9": 1})
    review = {"by": "Dr B Osei", "date": "2025-01-20", "decision": "resume"}
    with pytest.raises(RequestValidationError) as caught:
        adapt_plan(referred, {"date": "2025-03-03", "specialist_review": review})
    assert caught.value.field == "follow_up.specialist_review.date"
    assert "2025-02-03" in caught.value.problem


def test_slowing_again_and_again_is_capped(saved: dict[str, Any]) -> None:
    plan: TaperPlan = adapt_plan(copy.deepcopy(saved), {**VISIT, "preference": "slow"})
    refused: RequestValidationError | None = None
    for day in range(3, 27, 3):
        try:
            plan = adapt_plan(plan, {"date": f"2025-03-{day:02d}", "preference": "slow"})
        except RequestValidationError as exc:  # the rest became too long to plan: refused, with advice
            refused = exc
            break
    assert all(pace.every_days <= 365 for pace in plan.paces)
    assert plan.paces[0].every_days == 365 or refused is not None
    if refused is not None:
        assert refused.field == "plan.paces"
        assert "agree a new plan" in refused.problem
