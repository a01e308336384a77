"""The patient calendar and the GP/team letter from a taper plan: Jinja HTML, then PDF by WeasyPrint.

Both read only the plan (`TaperPlan`, checked by `read_plan` first): the doses, dates, MME, warnings and
follow-ups are the engine's, never recomputed here. The calendar says, for every day of the plan, what
to take at each time of day in plain words, marks the days a new step starts and the appointments, and
says what to expect and whom to call; the letter gives the practice the regimen now and its MME, the
goal, pace and schedule, every warning with its source, the follow-up dates and naloxone. Wording
follows the plan's market (US or UK).
"""

from __future__ import annotations

import calendar as calendar_grid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from importlib import resources
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from taperwise.knowledge.program import load_key_messages
from taperwise.reports.wording import WORDINGS, Wording
from taperwise.taper.plan import Administration, Step, TaperPlan

_TEMPLATES = resources.files("taperwise.reports") / "templates"
TIME_ORDER = ("morning", "midday", "afternoon", "evening", "bedtime", "night")
DAYS_AFTER_STOP = 6  # the calendar runs a week past the last stop: "none" is part of the plan too


@dataclass(frozen=True)
class Contact:
    """Who the documents name: the clinic and clinician (from the command's options or the app)."""

    clinic: str = "your clinic"
    phone: str = ""
    clinician: str = ""
    patient: str = ""
    recipient: str = ""


@dataclass(frozen=True)
class DoseLine:
    time: str  # "Morning", "Patch (changed every 72 hours)"
    text: str  # "1 × morphine 60 mg ER tablet + 1 × morphine 15 mg ER tablet (75 mg)"
    short: str  # for a calendar cell: "75 mg", or "morphine 75 mg" when the plan has several drugs
    cell_time: str  # for a calendar cell: "Morning", "Patch"


@dataclass(frozen=True)
class StepView:
    number: int
    start: date
    end: date | None
    kind: str
    change: str  # what changes at the start of this step, in a sentence
    lines: tuple[DoseLine, ...]
    daily_mme: Decimal
    dispense: tuple[str, ...]  # what the pharmacy supplies for the step: "84 × morphine 60 mg ER tablet"


@dataclass(frozen=True)
class Cell:
    day: date | None
    step: int | None
    new_step: bool
    lines: tuple[DoseLine, ...]
    appointment: str | None


@dataclass(frozen=True)
class Month:
    title: str
    weekdays: tuple[str, ...]
    weeks: tuple[tuple[Cell, ...], ...]


def wording_for(plan: TaperPlan, market: str | None = None) -> tuple[Wording, str | None]:
    """The wording to use and, when the choice was not the plan's own, a note saying so."""
    chosen = market or plan.request.market
    if chosen in WORDINGS:
        return WORDINGS[chosen], None
    return WORDINGS["US"], "the plan names no market: US wording used (pass --market UK for UK wording)"


def _ingredient(plan: TaperPlan, regimen_index: int) -> str:
    for drug in plan.summary.get("drugs", []):
        if drug.get("regimen_index") == regimen_index:
            return str(drug.get("ingredient") or plan.request.regimen[regimen_index].drug)
    return plan.request.regimen[regimen_index].drug


def _number(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _time_label(time: str) -> str:
    return time[:1].upper() + time[1:]


def dose_lines(plan: TaperPlan, step: Step, wording: Wording) -> tuple[DoseLine, ...]:
    """What to take, per time of day, in the order of the day (patches first)."""

    def order(administration: Administration) -> tuple[int, int]:
        rank = TIME_ORDER.index(administration.time) if administration.time in TIME_ORDER else -1
        return (rank, administration.regimen_index)

    lines = []
    for administration in sorted(step.administrations, key=order):
        units = " + ".join(f"{unit.count} × {wording.drug(unit.drug)}" for unit in administration.units)
        amount = f"{_number(administration.dose)} {administration.unit}"
        if administration.volume_ml is not None:
            amount += f", {_number(administration.volume_ml)} mL"
        ingredient = wording.drug(_ingredient(plan, administration.regimen_index))
        if administration.time.startswith("patch"):
            time = "Patch (" + administration.time.removeprefix("patch, ") + ")"
            text = f"wear {units} ({amount})"
        else:
            time = _time_label(administration.time)
            text = f"{units} ({amount})"
        single = len({a.regimen_index for a in step.administrations}) == 1 and len(plan.request.regimen) == 1
        cell_time = "Patch" if administration.time.startswith("patch") else time
        lines.append(DoseLine(time, text, amount if single else f"{ingredient} {amount}", cell_time))
    return tuple(lines)


def _change(plan: TaperPlan, step: Step, wording: Wording) -> str:
    if step.kind == "hold":
        return "The same doses as before: a pause."
    parts = []
    for change in step.changes:
        ingredient = wording.drug(_ingredient(plan, change.regimen_index))
        if change.kind == "stop":
            parts.append(f"Stop {ingredient}.")
        elif change.kind == "interval_extension":
            parts.append(f"Take {ingredient} less often: {change.schedule}.")
        else:
            parts.append(f"A smaller dose of {ingredient}.")
    return " ".join(parts) or "The doses below."


def step_views(plan: TaperPlan, wording: Wording) -> tuple[StepView, ...]:
    return tuple(
        StepView(
            step.number,
            step.start_date,
            step.end_date,
            step.kind,
            _change(plan, step, wording),
            dose_lines(plan, step, wording),
            step.daily_mme,
            _dispense(step, wording),
        )
        for step in plan.steps
    )


def _dispense(step: Step, wording: Wording) -> tuple[str, ...]:
    lines = []
    for line in step.dispense:
        amount = f"{line.quantity} mL" if line.quantity_unit == "mL" else f"{line.quantity} ×"
        boxes = f" ({line.boxes} boxes of {line.units_per_box})" if line.boxes and line.units_per_box else ""
        lines.append(f"{amount} {wording.drug(line.drug)}{boxes}")
    return tuple(lines)


def months(plan: TaperPlan, wording: Wording) -> tuple[Month, ...]:
    """Month grids from the plan's first day to a week past its last stop, every day filled in."""
    views = step_views(plan, wording)
    first = plan.steps[0].start_date if plan.steps else plan.baseline.start_date
    last_start = plan.steps[-1].start_date if plan.steps else first
    last = max([last_start + timedelta(days=DAYS_AFTER_STOP), *(visit.date for visit in plan.follow_ups)])
    visits = {visit.date: visit.reason for visit in plan.follow_ups}
    grid = calendar_grid.Calendar(firstweekday=0 if wording.week_starts_monday else 6)
    names = list(calendar_grid.day_abbr)
    weekdays = tuple(names[(grid.firstweekday + i) % 7] for i in range(7))
    out = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        weeks = []
        for week in grid.monthdatescalendar(year, month):
            cells = []
            for day in week:
                view = _step_on(views, day) if first <= day <= last and day.month == month else None
                cells.append(
                    Cell(
                        day if day.month == month else None,
                        view.number if view else None,
                        bool(view and view.start == day),
                        view.lines if view else (),
                        visits.get(day) if day.month == month else None,
                    )
                )
            weeks.append(tuple(cells))
        out.append(Month(date(year, month, 1).strftime("%B %Y"), weekdays, tuple(weeks)))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return tuple(out)


def _step_on(views: tuple[StepView, ...], day: date) -> StepView | None:
    current = None
    for view in views:
        if view.start <= day:
            current = view
    return current


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(str(_TEMPLATES)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["plain"] = lambda value: "" if value is None else _number(Decimal(str(value)))
    return environment


def _common(plan: TaperPlan, wording: Wording, contact: Contact) -> dict[str, Any]:
    warnings = {warning.code: warning for warning in plan.warnings}
    return {
        "plan": plan,
        "w": wording,
        "contact": contact,
        "steps": step_views(plan, wording),
        "baseline": dose_lines(plan, plan.baseline, wording),
        "naloxone": warnings.get("naloxone"),
        "withdrawal": warnings.get("withdrawal_support"),
        "drugs": [
            {**drug, "drug": wording.drug(str(drug.get("drug", "")))}
            for drug in plan.summary.get("drugs", [])
        ],
        "key_messages": load_key_messages(),
    }


def calendar_html(plan: TaperPlan, contact: Contact, market: str | None = None) -> str:
    wording, _ = wording_for(plan, market)
    context = _common(plan, wording, contact) | {"months": months(plan, wording)}
    return _environment().get_template("calendar.html").render(context)


def letter_html(
    plan: TaperPlan, contact: Contact, market: str | None = None, *, today: date | None = None
) -> str:
    wording, _ = wording_for(plan, market)
    order = {"requires_review": 0, "caution": 1, "info": 2}
    warnings = sorted(plan.warnings, key=lambda warning: order.get(warning.severity, 3))
    context = _common(plan, wording, contact) | {"warnings": warnings, "today": today or date.today()}
    return _environment().get_template("letter.html").render(context)


def handover_html(
    plan: TaperPlan,
    contact: Contact,
    reason: str,
    extra: dict[str, Any],
    market: str | None = None,
    *,
    today: date | None = None,
) -> str:
    """A referral or handover note: why, to whom, the plan in force, its warnings, and what the team knows
    (`extra`: the intake decision, monitoring, the agreement, as the app holds them)."""
    wording, _ = wording_for(plan, market)
    order = {"requires_review": 0, "caution": 1, "info": 2}
    warnings = sorted(plan.warnings, key=lambda warning: order.get(warning.severity, 3))
    context = _common(plan, wording, contact) | {
        "warnings": warnings,
        "today": today or date.today(),
        "reason": reason,
        "extra": extra,
    }
    return _environment().get_template("handover.html").render(context)


def to_pdf(html: str) -> bytes:
    """The document as PDF (WeasyPrint; fonts and Pango from the system). The only resource it may load
    is the stylesheet beside the templates: a document never reaches the network or another file (an
    image or link in the text is dropped, with WeasyPrint's warning in the log)."""
    from weasyprint import HTML  # imported with the command that prints: it loads Pango
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    stylesheet = _TEMPLATES / "documents.css"

    class StylesheetOnly(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
            if url.startswith("file://") and url.endswith("/documents.css"):
                return URLFetcherResponse(url, stylesheet.read_bytes(), {"Content-Type": "text/css"})
            raise ValueError(f"documents load nothing from {url[:60]}")

    fetcher = StylesheetOnly(allowed_protocols=("file",), fail_on_errors=False)
    pdf: bytes = HTML(string=html, base_url=str(_TEMPLATES) + "/", url_fetcher=fetcher).write_pdf()
    return pdf
