"""What a prescription value may be before taperwise computes with it: one definition for every reader
(CSV, FHIR, OMOP ingest) and every engine (DuckDB, Spark).

A value outside these bounds is not a dose anyone took: a start date in 1850 or 9999, a supply of 10^20
days, 10^32 tablets. Such a row is never guessed into range and never refuses the whole file: ingest
reports it as a problem naming the record and the field, and the MME stage makes the row
`insufficient_data` with the same words, so the patient's dose is shown as incomplete (never as a
lower number).

Dates: from 1900-01-01 to one year after the day of the run, by default. A site with older archives or a
planning horizon further ahead sets TAPERWISE_EARLIEST_DATE / TAPERWISE_LATEST_DATE (YYYY-MM-DD); the range
in force is written into each output's metadata.

Numbers: the bounds are far beyond any real prescription and well inside what the engines represent
exactly (a day count fits a 32-bit integer, a quantity times a strength fits a double without loss of
the units digit), so a value within them always computes and a value beyond them is always reported.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from taperwise.errors import TaperwiseError

EARLIEST_ENV = "TAPERWISE_EARLIEST_DATE"
LATEST_ENV = "TAPERWISE_LATEST_DATE"
DEFAULT_EARLIEST = dt.date(1900, 1, 1)
DAYS_AHEAD = 366

# The largest value each numeric field may hold (inclusive). Ten years of supply in one prescription;
# ten million units dispensed; ten thousand units a day.
MAX_DAYS_SUPPLY = 3660
MAX_QUANTITY = 10_000_000
MAX_UNITS_PER_DAY = 10_000
# Beyond the prescription's own fields, what the MME stage derives from them: a strength override per
# unit (the product parser refuses strengths of eight or more integer digits), and a daily MME (a
# million MME a day is no dose anyone took; the bound keeps every sum an engine makes of them exact).
MAX_STRENGTH = 10_000_000
MAX_DAILY_MME = 1_000_000
# The metadata key under which outputs record the date range in force.
METADATA_KEY = "plausible_dates"


class PlausibleRangeError(TaperwiseError):
    """TAPERWISE_EARLIEST_DATE / TAPERWISE_LATEST_DATE hold something that is not a usable range."""


@dataclass(frozen=True)
class DateRange:
    """The dates a prescription may start (and its supply end) on, both ends included."""

    earliest: dt.date
    latest: dt.date

    def problem(self, day: dt.date, field: str) -> str | None:
        """Why `day` is not plausible for `field`, or None when it is."""
        if day < self.earliest:
            return f"{field} {day.isoformat()}{self.before_words()}"
        if day > self.latest:
            return f"{field} {day.isoformat()}{self.after_words()}"
        return None

    def text_problem(self, text: str, field: str) -> str | None:
        """`problem` for a date written as text (``YYYY-MM-DD``, a time after it ignored).

        Text that is no calendar date is None here (whether it is usable is the reader's question), except
        a year beyond 9999 or before year 1, which some engines read as a date and Python cannot hold: it
        is after the latest (or before the earliest) plausible date.
        """
        written = text.strip()
        match = _DATE_TEXT.match(written)
        if match is None:
            return None
        year, month, day = (int(part) for part in match.groups())
        if written.endswith("(BC)") or year < 1:
            return f"{field} {written[:40]}{self.before_words()}"
        if year > 9999:
            return f"{field} {written[:40]}{self.after_words()}"
        try:
            return self.problem(dt.date(year, month, day), field)
        except ValueError:
            return None

    def supply_end_problem(self, start: dt.date, days_supply: float) -> str | None:
        """Why the last day of a supply (start + days_supply − 1, as the MME stage's end_date) is not
        plausible, or None when it is.

        Only for a start and a days supply that are each plausible (`problem`, `number_problem`).
        """
        try:
            end = (start + dt.timedelta(days=days_supply - 1)).isoformat()
        except OverflowError:
            end = "after 9999-12-31"
        else:
            if end <= self.latest.isoformat():
                return None
        return (
            f"supply end {end} (start_date {start.isoformat()} + days_supply {days_supply:g} − 1) "
            f"is after the latest plausible date ({self.latest})"
        )

    def before_words(self) -> str:
        """What `problem` says after the field and the date for a date before the range (for engines,
        which build the same sentence around a value they show themselves)."""
        return f" is before the earliest plausible date ({self.earliest})"

    def after_words(self) -> str:
        """What `problem` says after the field and the date for a date after the range."""
        return f" is after the latest plausible date ({self.latest})"

    def as_metadata(self) -> dict[str, str]:
        return {"earliest": self.earliest.isoformat(), "latest": self.latest.isoformat()}

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, today: dt.date | None = None
    ) -> DateRange:
        env = os.environ if environ is None else environ
        today = today or dt.date.today()
        earliest = _date(env, EARLIEST_ENV) or DEFAULT_EARLIEST
        latest = _date(env, LATEST_ENV) or today + dt.timedelta(days=DAYS_AHEAD)
        if earliest > latest:
            raise PlausibleRangeError(
                f"{EARLIEST_ENV}={earliest.isoformat()} is after {LATEST_ENV}={latest.isoformat()}"
            )
        return cls(earliest, latest)

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, object]) -> DateRange | None:
        """The range an output's metadata records (`as_metadata` under METADATA_KEY), or None when it
        records none (a file written before the range was recorded) or one that is not a range."""
        recorded = metadata.get(METADATA_KEY)
        if not isinstance(recorded, Mapping):
            return None
        try:
            earliest = dt.date.fromisoformat(str(recorded["earliest"]))
            latest = dt.date.fromisoformat(str(recorded["latest"]))
        except (KeyError, ValueError):
            return None
        return cls(earliest, latest) if earliest <= latest else None


def out_of_range_words(maximum: float) -> str:
    """What `number_problem` says after the field and the value for a value beyond `maximum`."""
    return f" is out of range (at most {maximum:g})"


def number_problem(value: float, field: str, maximum: float) -> str | None:
    """Why a numeric `field` value cannot be computed with, or None when it can (NaN and infinities too)."""
    if value != value or value in (float("inf"), float("-inf")):
        return f"{field} is not a finite number"
    if abs(value) > maximum:
        return f"{field} {value:g}{out_of_range_words(maximum)}"
    return None


_DATE_TEXT = re.compile(r"^(-?\d{4,})-(\d{2})-(\d{2})(?=$|[T ])")


def _date(env: Mapping[str, str], name: str) -> dt.date | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise PlausibleRangeError(f"{name}={raw!r}: use a date as YYYY-MM-DD") from None
