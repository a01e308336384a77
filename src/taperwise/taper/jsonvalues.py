"""Reading and writing the JSON values of requests, plans and follow-ups, field by field.

Every reader names the field it was reading in the error, so a clinician or data manager can fix the
request without reading code. Doses are Decimals inside the engine and JSON numbers outside.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from taperwise.errors import RequestValidationError


def check_keys(raw: Any, allowed: set[str], path: str) -> None:
    if not isinstance(raw, dict):
        raise RequestValidationError(path, "must be a JSON object")
    unknown = sorted(str(key)[:40] for key in set(raw) - allowed)
    if unknown:
        raise RequestValidationError(
            f"{path}.{unknown[0]}" if path != "request" else unknown[0],
            f"unknown field; expected one of {', '.join(sorted(allowed))}",
        )


def require(raw: dict[str, Any], key: str, path: str) -> Any:
    if raw.get(key) is None:
        raise RequestValidationError(key if path == "request" else f"{path}.{key}", "is required")
    return raw[key]


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")  # YYYY-MM-DD only (not 2025-W02-1 or 20250106)
MAX_DECIMAL_PLACES = 3  # doses, strengths and scores: 12.5 mcg/hr, 0.5 mL measures, never finer


def read_decimal(
    value: Any,
    path: str,
    *,
    positive: bool = False,
    maximum: Decimal | None = None,
    places: int = MAX_DECIMAL_PLACES,
) -> Decimal:
    """A finite number, at most `places` decimal places (so 1e-300 cannot blow up a strength table),
    not negative (positive when asked) and at most `maximum` when given."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestValidationError(path, f"must be a number, not {shown(value)}")
    if isinstance(value, int) and value.bit_length() > 64:
        raise RequestValidationError(path, "is far too large")
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise RequestValidationError(path, f"must be a number, not {shown(value)}") from exc
    if not number.is_finite() or number < 0 or (positive and number == 0):
        raise RequestValidationError(
            path, "must be a positive number" if positive else "must not be negative"
        )
    if maximum is not None and number > maximum:
        raise RequestValidationError(path, f"must be at most {plain(maximum)}")
    exponent = number.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -places:
        raise RequestValidationError(path, f"must have at most {places} decimal places")
    return number


def read_int(value: Any, path: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestValidationError(path, f"must be a whole number, not {shown(value)}")
    if value.bit_length() > 64:
        raise RequestValidationError(path, "is far too large")
    if minimum is not None and value < minimum:
        raise RequestValidationError(path, f"must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise RequestValidationError(path, f"must be at most {maximum}")
    return value


def optional_int(
    raw: dict[str, Any], key: str, path: str, *, minimum: int | None = None, maximum: int | None = None
) -> int | None:
    if raw.get(key) is None:
        return None
    return read_int(raw[key], key if path == "request" else f"{path}.{key}", minimum=minimum, maximum=maximum)


def read_bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise RequestValidationError(path, f"must be true or false, not {shown(value)}")
    return value


def read_date(value: Any, path: str, *, earliest: date | None = None, latest: date | None = None) -> date:
    """An ISO date; with bounds, inside them (a plan dated 9999-12-31 cannot add a single day)."""
    try:
        if not isinstance(value, str) or not _ISO_DAY.fullmatch(value):
            raise ValueError(value)
        day = date.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise RequestValidationError(path, f"must be a date YYYY-MM-DD, not {shown(value)}") from exc
    if (earliest is not None and day < earliest) or (latest is not None and day > latest):
        raise RequestValidationError(
            path, f"must be between {earliest or date.min} and {latest or date.max}, not {day}"
        )
    return day


def read_text(value: Any, path: str, *, max_length: int, required: bool = True) -> str:
    """Text a person wrote (a name, a reason), stripped; at most `max_length` characters."""
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise RequestValidationError(path, "must be text" + (" (not empty)" if required else ""))
    if len(value) > max_length:
        raise RequestValidationError(path, f"must be at most {max_length} characters")
    return value.strip()


def shown(value: Any) -> str:
    """A bad value as an error shows it: short, so a hostile megabyte never reaches a message or a log."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def to_json_number(value: Decimal) -> int | float:
    """A Decimal as a JSON number: an int when whole, else the nearest float (doses have few decimals)."""
    if value == value.to_integral_value():
        return int(value)
    return float(value)


class PlanValueError(ValueError):
    """A value of a saved plan that is not what the engine wrote; its message is safe to show."""


def from_json_number(value: Any) -> Decimal:
    """A number a plan file holds: a JSON number (not a string, not true), never a 1000-digit integer;
    PlanValueError otherwise (the plan reader names the file)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PlanValueError(f"{shown(value)} where a number belongs")
    if isinstance(value, int) and value.bit_length() > 64:
        raise PlanValueError("a number far too large")
    return Decimal(str(value))


def from_json_day(value: Any) -> date:
    """A date a plan file holds: YYYY-MM-DD only; PlanValueError otherwise."""
    if not isinstance(value, str) or not _ISO_DAY.fullmatch(value):
        raise PlanValueError(f"{shown(value)} where a date YYYY-MM-DD belongs")
    return date.fromisoformat(value)


def plain(value: Decimal) -> str:
    """A dose as people write it: 75, 37.5, 0.5 (never 7.5E+1)."""
    text = format(value.normalize(), "f")
    return text
