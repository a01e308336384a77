"""The patient page's prescription table: every prescription once, filtered and sorted on the server.

One table replaces the by-prescriber and by-pharmacy lists: the filters (prescriber, pharmacy, drug,
status, a date range) come from an ordinary GET form, so they work without JavaScript, and with htmx a
change replaces only the table. The choices offered are built from the rows this viewer was given
(`patient_view` has already applied the role's rules), so a filter list never names anything the table
itself would not show. A value that is not one of the choices, an impossible date or control characters
get a plain message naming the filter — the value itself is never echoed back.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from taperwise.store.worklist import PrescriptionRow
from taperwise.web.filters import FilterError
from taperwise.web.picture import NO_PRESCRIBER, group_by

MAX_VALUE = 200
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
SORTS = {"newest": "newest first", "oldest": "oldest first"}


def prescriber_of(rx: PrescriptionRow) -> str:
    return rx.prescriber_id or NO_PRESCRIBER


def pharmacy_of(rx: PrescriptionRow) -> str:
    return rx.pharmacy_id or NO_PRESCRIBER


def drug_of(rx: PrescriptionRow) -> str:
    """The substance when the record was recognised (all oxycodone products together), else its text."""
    return rx.ingredient or rx.drug or "(unknown)"


def status_of(rx: PrescriptionRow) -> str:
    return rx.status


@dataclass(frozen=True)
class Choice:
    value: str
    count: int  # prescriptions with this value

    @property
    def label(self) -> str:
        return f"{self.value} ({self.count})"


@dataclass(frozen=True)
class Choices:
    """What each filter may be set to: the values present in this viewer's rows of this patient."""

    prescribers: list[Choice]
    pharmacies: list[Choice]
    drugs: list[Choice]
    statuses: list[Choice]
    first_date: dt.date | None
    last_date: dt.date | None

    @classmethod
    def of(cls, rows: Sequence[PrescriptionRow]) -> Choices:
        def most_recent_first(key: Callable[[PrescriptionRow], str | None]) -> list[Choice]:
            # The fragmentation view's order: the prescriber (pharmacy) with the latest fill first.
            return [Choice(g.key, len(g.prescriptions)) for g in group_by(rows, key)]

        def by_name(key: Callable[[PrescriptionRow], str]) -> list[Choice]:
            counts = Counter(key(rx) for rx in rows)
            return [Choice(value, counts[value]) for value in sorted(counts, key=str.lower)]

        starts = [rx.start_date for rx in rows if rx.start_date is not None]
        ends = [rx.end_date for rx in rows if rx.end_date is not None]
        return cls(
            prescribers=most_recent_first(lambda rx: rx.prescriber_id),
            pharmacies=most_recent_first(lambda rx: rx.pharmacy_id),
            drugs=by_name(drug_of),
            statuses=by_name(status_of),
            first_date=min(starts, default=None),
            last_date=max(ends + starts, default=None),
        )


_SELECTS: tuple[tuple[str, str, Callable[[Choices], list[Choice]], Callable[[PrescriptionRow], str]], ...] = (
    ("prescriber", "Prescriber", lambda c: c.prescribers, prescriber_of),
    ("pharmacy", "Pharmacy", lambda c: c.pharmacies, pharmacy_of),
    ("drug", "Drug", lambda c: c.drugs, drug_of),
    ("status", "Status", lambda c: c.statuses, status_of),
)
SELECT_NAMES = tuple(name for name, *_ in _SELECTS)


def _checked_text(params: Mapping[str, str], name: str, label: str) -> str:
    value = params.get(name, "").strip()
    if len(value) > MAX_VALUE:
        raise FilterError(f"{label}: the value is too long; choose one from the list.")
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise FilterError(f"{label}: the value contains control characters (such as a NUL byte).")
    return value


def _date(params: Mapping[str, str], name: str, label: str) -> dt.date | None:
    value = _checked_text(params, name, label)
    if not value:
        return None
    try:
        if not _DATE.fullmatch(value):
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        raise FilterError(f"{label}: use a real date written YYYY-MM-DD, e.g. 2025-01-31.") from None


@dataclass(frozen=True)
class PrescriptionFilters:
    """The table's filters; an empty value means "any" (filters only narrow, they never invert)."""

    prescriber: str = ""
    pharmacy: str = ""
    drug: str = ""
    status: str = ""
    date_from: dt.date | None = None  # supply on or after (a prescription overlapping the range is shown)
    date_to: dt.date | None = None
    sort: str = "newest"

    @classmethod
    def parse(cls, params: Mapping[str, str], choices: Choices) -> PrescriptionFilters:
        """From the page's query string (`?prescriber=DR-A&from=2025-01-01`); FilterError says what is
        wrong with which filter, without repeating the value."""
        chosen: dict[str, str] = {}
        for name, label, options, _ in _SELECTS:
            value = _checked_text(params, name, label)
            if value and value not in {choice.value for choice in options(choices)}:
                raise FilterError(
                    f"{label}: that value is not one of this patient's prescriptions; choose one from the "
                    "list, or any."
                )
            chosen[name] = value
        date_from = _date(params, "from", "From")
        date_to = _date(params, "to", "To")
        if date_from is not None and date_to is not None and date_from > date_to:
            raise FilterError("The date range ends before it starts: put the earlier date in From.")
        sort = _checked_text(params, "sort", "Order") or "newest"
        if sort not in SORTS:
            raise FilterError("Order: choose newest first or oldest first.")
        return cls(date_from=date_from, date_to=date_to, sort=sort, **chosen)

    @property
    def dated(self) -> bool:
        return self.date_from is not None or self.date_to is not None

    @property
    def active(self) -> bool:
        return any(getattr(self, name) for name in SELECT_NAMES) or self.dated

    def described(self) -> list[str]:
        """The filters in force, in words, for the line above the table (and the printed page)."""
        out = [
            f"{label.lower()} {getattr(self, name)}" for name, label, *_ in _SELECTS if getattr(self, name)
        ]
        if self.date_from is not None:
            out.append(f"supply on or after {self.date_from}")
        if self.date_to is not None:
            out.append(f"supply on or before {self.date_to}")
        return out

    def query(self, **changes: Any) -> dict[str, str]:
        values = {name: getattr(self, name) for name in SELECT_NAMES}
        values |= {"from": self.date_from or "", "to": self.date_to or "", "sort": self.sort} | changes
        return {k: str(v) for k, v in values.items() if v and not (k == "sort" and v == "newest")}

    def keeps(self, rx: PrescriptionRow) -> bool:
        for name, _, _, key in _SELECTS:
            wanted = getattr(self, name)
            if wanted and key(rx) != wanted:
                return False
        if self.dated:
            if rx.start_date is None or rx.end_date is None:
                return False
            if self.date_from is not None and rx.end_date < self.date_from:
                return False
            if self.date_to is not None and rx.start_date > self.date_to:
                return False
        return True

    def apply(self, rows: Sequence[PrescriptionRow]) -> list[PrescriptionRow]:
        """The rows these filters keep, by start date (newest first unless `sort` is oldest); records
        without a start date last either way."""
        kept = [rx for rx in rows if self.keeps(rx)]

        def when(rx: PrescriptionRow) -> tuple[dt.date, dt.date]:
            assert rx.start_date is not None
            return rx.start_date, rx.end_date or rx.start_date

        dated = sorted(
            (rx for rx in kept if rx.start_date is not None), key=when, reverse=self.sort == "newest"
        )
        return dated + [rx for rx in kept if rx.start_date is None]


@dataclass(frozen=True)
class PrescriptionTable:
    """What the table fragment shows: the kept rows, out of how many, and why any are hidden."""

    rows: list[PrescriptionRow]
    total: int
    filters: PrescriptionFilters
    choices: Choices
    error: str | None = None
    undated_hidden: int = 0  # records without usable dates, left out because a date range is set

    @property
    def selects(self) -> list[tuple[str, str, list[Choice], str]]:
        """(name, label, choices, selected value) of each drop-down, for the form."""
        return [(name, label, options(self.choices), getattr(self.filters, name))
                for name, label, options, _ in _SELECTS]  # fmt: skip


def prescription_table(rows: Sequence[PrescriptionRow], params: Mapping[str, str]) -> PrescriptionTable:
    """Every prescription of the view, filtered by `params`; on an unusable filter, every prescription
    with the message (nothing is hidden by a filter the page cannot show as set)."""
    choices = Choices.of(rows)
    try:
        filters = PrescriptionFilters.parse(params, choices)
    except FilterError as exc:
        everything = PrescriptionFilters()
        return PrescriptionTable(everything.apply(rows), len(rows), everything, choices, error=str(exc))
    undated = 0
    if filters.dated:  # the records the date range alone hides: said above the table, never silent
        undated_only = replace(filters, date_from=None, date_to=None)
        undated = sum(1 for rx in rows if (rx.start_date is None or rx.end_date is None)
                      and undated_only.keeps(rx))  # fmt: skip
    return PrescriptionTable(filters.apply(rows), len(rows), filters, choices, undated_hidden=undated)
