"""FHIR ``date``/``dateTime``/``instant`` → the calendar day as written (``YYYY-MM-DD``).

The day is read from the text before any time or offset, so ``2015-01-15T23:30:00-05:00`` is the 15th:
the day the record's author saw, not the UTC day. A partial date (``2015``, ``2015-01``) has no day and
is returned as None by `day_of`; callers decide whether that is a problem or the raw text is carried.
"""

from __future__ import annotations

import re

_DAY = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:$|T)")


def day_of(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    match = _DAY.match(value.strip())
    return match.group(1) if match else None


def first_day(*values: object) -> str | None:
    """The first of `values` that is a full date."""
    for value in values:
        day = day_of(value)
        if day is not None:
            return day
    return None


def period_start(period: object) -> object:
    return period.get("start") if isinstance(period, dict) else None
