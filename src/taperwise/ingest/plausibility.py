"""Implausible values in a canonical prescription row, in `taperwise.plausible`'s words.

Every reader hands its rows to `IngestSink.prescription`, which asks `row_problems` about each one, so
CSV, FHIR and OMOP report the same values the same way: a ``start_date`` outside the plausible date
range, a supply that runs out after its latest day, a ``days_supply``, ``quantity`` or ``units_per_day``
beyond its maximum (or not a finite number). Each is one problem (kind ``implausible_date`` or
``out_of_range``) naming the record and the field, and the row is still written with the value as the
source gave it: the MME stage turns such a row into ``insufficient_data`` with the same words, so the
patient's dose shows as incomplete instead of the prescription being lost or a guessed value computed.

The canonical tables hold text in every column (`taperwise.canonical`), so no value is too large to be
written: 1e20 days is written as ``1e20``, never clamped, never emptied, and never an overflow. Text that
is not a number or not a date is not judged here; the exposure engine reports it row by row, as before.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping

from taperwise.plausible import (
    MAX_DAYS_SUPPLY,
    MAX_QUANTITY,
    MAX_UNITS_PER_DAY,
    DateRange,
    number_problem,
)

NUMBER_FIELDS = (
    ("days_supply", MAX_DAYS_SUPPLY),
    ("quantity", MAX_QUANTITY),
    ("units_per_day", MAX_UNITS_PER_DAY),
)
KEPT = "kept as written; the MME stage does not compute a dose from this row"


def limits_metadata(dates: DateRange) -> dict[str, object]:
    """The bounds in force, for the ingest metadata file."""
    return {"dates": dates.as_metadata(), "at_most": dict(NUMBER_FIELDS)}


def _number(text: str, field: str, maximum: float) -> tuple[float | None, str | None]:
    """The number `text` holds (None when it holds none) and why it is out of range."""
    try:
        value = float(text)
    except ValueError:
        return None, None
    if math.isinf(value) and text.strip().lower().lstrip("+-") not in ("inf", "infinity"):
        # Digits too many for a double: out of range, shown as written rather than as "inf".
        return value, f"{field} {text.strip()[:40]} is out of range (at most {maximum:g})"
    return value, number_problem(value, field, maximum)


def _day(text: str) -> dt.date | None:
    day = text.strip()[:10]
    if len(day) != 10 or day[4] != "-" or day[7] != "-":
        return None
    try:
        return dt.date.fromisoformat(day)
    except ValueError:
        return None


def row_problems(row: Mapping[str, object], dates: DateRange) -> list[tuple[str, str]]:
    """(kind, message) for each implausible value of a canonical prescription `row`."""
    problems: list[tuple[str, str]] = []
    numbers: dict[str, float | None] = {}
    for field, maximum in NUMBER_FIELDS:
        text = row.get(field)
        if text is None or str(text).strip() == "":
            continue
        value, why = _number(str(text), field, maximum)
        numbers[field] = None if why else value
        if why:
            problems.append(("out_of_range", f"{why}; {KEPT}"))
    start_text = row.get("start_date")
    if start_text is None or str(start_text).strip() == "":
        return problems
    why = dates.text_problem(str(start_text), "start_date")
    if why:
        problems.append(("implausible_date", f"{why}; {KEPT}"))
        return problems
    start, days = _day(str(start_text)), numbers.get("days_supply")
    if start is not None and days is not None and days > 0:
        why = dates.supply_end_problem(start, days)
        if why:
            problems.append(("implausible_date", f"{why}; {KEPT}"))
    return problems
