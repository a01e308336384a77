"""The patient calendar and the GP letter: every day of the plan filled in from the plan's own steps,
appointments and new steps marked, US and UK wording, every warning and follow-up in the letter, PDFs."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taperwise.cli import app
from taperwise.reports.documents import (
    DAYS_AFTER_STOP,
    Contact,
    calendar_html,
    letter_html,
    months,
    step_views,
    to_pdf,
    wording_for,
)
from taperwise.reports.wording import UK, US
from taperwise.taper import plan_taper
from taperwise.taper.plan import TaperPlan

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _plan(**changes: object) -> TaperPlan:
    request = json.loads((ROOT / "examples" / "taper-request.json").read_text(encoding="utf-8"))
    return plan_taper({**request, **changes})


@pytest.fixture(scope="module")
def morphine() -> TaperPlan:
    return _plan()


@pytest.fixture(scope="module")
def two_drugs_uk() -> TaperPlan:
    return plan_taper({
        "start_date": "2025-01-06", "opioid_use_days": 800, "market": "UK",
        "regimen": [{"drug": "fentanyl 25 mcg/hr transdermal patch", "dose": 25, "strengths": [12, 25]},
                    {"drug": "co-codamol 30/500 tablets", "dose": 60, "times_per_day": 2, "strengths": [30]}],
        "goal": {"type": "discontinue"},
        "pace": {"reduction": 10, "unit": "percent_of_original", "every_days": 28},
    })  # fmt: skip


def test_every_day_from_the_start_to_a_week_past_the_last_stop_is_in_exactly_one_cell(
    morphine: TaperPlan,
) -> None:
    wording, _ = wording_for(morphine)
    days = [cell.day for month in months(morphine, wording) for week in month.weeks for cell in week
            if cell.day is not None and cell.step is not None]  # fmt: skip
    first, last_stop = morphine.steps[0].start_date, morphine.steps[-1].start_date
    last = max(last_stop + timedelta(days=DAYS_AFTER_STOP), *(visit.date for visit in morphine.follow_ups))
    expected = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    assert days == expected


def test_each_cell_shows_the_doses_of_the_step_in_force_that_day(morphine: TaperPlan) -> None:
    wording, _ = wording_for(morphine)
    views = {view.number: view for view in step_views(morphine, wording)}
    for month in months(morphine, wording):
        for week in month.weeks:
            for cell in week:
                if cell.step is None:
                    continue
                step = next(s for s in morphine.steps if s.number == cell.step)
                assert step.start_date <= cell.day  # type: ignore[operator]
                assert step.end_date is None or cell.day <= step.end_date  # type: ignore[operator]
                assert cell.lines == views[cell.step].lines
                assert cell.new_step == (cell.day == step.start_date)


def test_the_doses_of_a_day_add_up_to_the_plans_daily_dose(morphine: TaperPlan) -> None:
    wording, _ = wording_for(morphine)
    for view, step in zip(step_views(morphine, wording), morphine.steps, strict=True):
        total = sum((Decimal(line.short.split()[0]) for line in view.lines), Decimal(0))
        assert total == sum((dose.amount for dose in step.daily_dose.values()), Decimal(0))


def test_appointments_are_marked_on_their_days(morphine: TaperPlan) -> None:
    wording, _ = wording_for(morphine)
    marked = {cell.day for month in months(morphine, wording) for week in month.weeks for cell in week
              if cell.appointment}  # fmt: skip
    assert marked == {visit.date for visit in morphine.follow_ups}


def test_the_last_step_says_no_opioid_from_that_day(morphine: TaperPlan) -> None:
    html = calendar_html(morphine, Contact())
    assert "No opioid medicine from this day." in html
    assert "Stop morphine." in html


def test_us_wording_without_a_market_is_said_and_uk_wording_follows_the_plan(
    morphine: TaperPlan, two_drugs_uk: TaperPlan
) -> None:
    wording, note = wording_for(morphine)
    assert wording is US
    assert note is not None
    assert "--market UK" in note
    assert wording_for(two_drugs_uk) == (UK, None)
    assert wording_for(morphine, "UK") == (UK, None)
    us = calendar_html(morphine, Contact())
    uk = calendar_html(morphine, Contact(), "UK")
    assert "Monday, January 6, 2025" in us
    assert "988" in us
    assert "Monday 6 January 2025" in uk
    assert "NHS 111" in uk
    assert US.week_starts_monday is False
    assert UK.week_starts_monday is True


def test_a_uk_plan_names_paracetamol_and_a_us_letter_acetaminophen(two_drugs_uk: TaperPlan) -> None:
    uk = letter_html(two_drugs_uk, Contact())
    us = letter_html(two_drugs_uk, Contact(), "US")
    assert "paracetamol" in uk
    assert "acetaminophen" not in uk
    assert "acetaminophen" in us
    assert "GP" in uk


def test_a_patch_is_worn_and_its_change_interval_said(two_drugs_uk: TaperPlan) -> None:
    html = calendar_html(two_drugs_uk, Contact())
    assert "Patch (changed every 72 hours)" in html
    assert "wear 1 × fentanyl" in html
    assert "Patch: fentanyl" in html  # the calendar cell names the drug: two drugs in this plan


def test_the_letter_holds_the_regimen_mme_every_warning_and_every_follow_up(two_drugs_uk: TaperPlan) -> None:
    html = letter_html(two_drugs_uk, Contact(clinician="Dr A. Avery", patient="S001"), today=date(2025, 1, 6))
    assert "Opioid reduction plan: S001" in html
    assert f"<strong>{two_drugs_uk.baseline.daily_mme.normalize():f}</strong>" in html
    for warning in two_drugs_uk.warnings:
        assert warning.severity.replace("_", " ") in html
        assert warning.code
        assert UK.drug(warning.message).split(":")[0].replace("&", "&amp;") in html
    for visit in two_drugs_uk.follow_ups:
        assert UK.day(visit.date) in html
    assert "Offer naloxone" in html
    assert "6 Jan 2025" in html


def test_text_from_outside_is_escaped(morphine: TaperPlan) -> None:
    html = letter_html(morphine, Contact(patient="<script>alert(1)</script>", clinic="A & B"))
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "A &amp; B" in html


def test_the_pdfs_are_made_without_loading_anything_from_outside(
    morphine: TaperPlan, caplog: pytest.LogCaptureFixture
) -> None:
    for html in (calendar_html(morphine, Contact()), letter_html(morphine, Contact())):
        pdf = to_pdf(html.replace("</body>", '<img src="http://example.invalid/x.png"></body>'))
        assert pdf.startswith(b"%PDF-")
        assert pdf.rstrip().endswith(b"%%EOF")
        assert len(pdf) > 10_000
    assert "documents load nothing from http://example.invalid/x.png" in caplog.text


def _write_plan(tmp_path: Path, plan: TaperPlan) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(plan.to_json(), encoding="utf-8")
    return path


def test_the_commands_write_the_calendar_and_the_letter(tmp_path: Path, morphine: TaperPlan) -> None:
    plan = _write_plan(tmp_path, morphine)
    calendar = runner.invoke(app, ["program", "calendar", str(plan), "-o", str(tmp_path / "calendar.pdf"),
                                   "--clinic", "Riverside", "--phone", "555-0100"])  # fmt: skip
    assert calendar.exit_code == 0, calendar.output
    assert "US wording used" in calendar.output
    assert (tmp_path / "calendar.pdf").read_bytes().startswith(b"%PDF-")
    letter = runner.invoke(
        app, ["program", "letter", str(plan), "-o", str(tmp_path / "letter.html"), "--market", "UK"]
    )
    assert letter.exit_code == 0, letter.output
    assert "GP" in (tmp_path / "letter.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("content", "output", "message"),
    [
        (b'{"format": "something else"}', "out.pdf", "plan.format: must be 'taperwise.taper-plan/1'"),
        (b"\xff\xfe not json", "out.pdf", "not UTF-8 text"),
        (b"[1, 2]", "out.pdf", "must hold one JSON object"),
        (None, "out.txt", "must end in .pdf or .html"),
        (None, "plan.json", "is the input"),
    ],
)
def test_a_plan_that_cannot_be_printed_is_a_one_line_error(
    tmp_path: Path, morphine: TaperPlan, content: bytes | None, output: str, message: str
) -> None:
    plan = _write_plan(tmp_path, morphine)
    if content is not None:
        plan.write_bytes(content)
    result = runner.invoke(app, ["program", "letter", str(plan), "-o", str(tmp_path / output)])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_an_edited_plan_whose_steps_do_not_fit_is_refused(tmp_path: Path, morphine: TaperPlan) -> None:
    raw = json.loads(morphine.to_json())
    raw["steps"][1]["start_date"] = "2030-01-01"
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(raw), encoding="utf-8")
    result = runner.invoke(app, ["program", "calendar", str(plan), "-o", str(tmp_path / "c.pdf")])
    assert result.exit_code == 2
    assert "plan.steps" in result.output
