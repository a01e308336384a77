"""FHIR ``Dosage`` → units per day in the product's own unit, "as needed", and route.

Rules (docs/ingest-fhir.md):
- units per day = dose × frequency per period, the period converted to days (``mo`` = 30 days, ``a`` =
  365). Where the sig gives a range, the maximum is used (``doseRange.high``, ``frequencyMax``, the
  shorter ``period``) because "as needed" sigs are read as their maximum by the exposure engine
  (clinical-rules §1), which flags that use as ``prn_max``.
- ``timeOfDay`` or ``when`` with no frequency count one administration per listed time each day.
- Patches: units per day is the number of patches applied at once, whatever the wear interval — the
  canonical meaning of ``units_per_day`` for patches (CONTRACTS.md).
- A dose in mass units (``mg``) cannot become tablets without the strength, which is the exposure engine's
  business: the value is left empty and the reason returned, never guessed.
- Dosages with the same ``sequence`` run together and add; different sequences follow one another, and
  the first one is used, with the others named in ``note`` for the problems file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PER_DAY = {"s": 86400.0, "min": 1440.0, "h": 24.0, "d": 1.0, "wk": 1 / 7, "mo": 1 / 30, "a": 1 / 365}
# HL7 v3 GTSAbbreviation timing codes: administrations per day.
TIMING_CODES = {
    "QD": 1.0,
    "BID": 2.0,
    "TID": 3.0,
    "QID": 4.0,
    "AM": 1.0,
    "PM": 1.0,
    "QOD": 0.5,
    "Q4H": 6.0,
    "Q6H": 4.0,
}
# Units that count the product itself (tablets, capsules, patches, mL): what `units_per_day` holds.
# fmt: off
PRODUCT_UNITS = frozenset({
    "tab", "tabs", "tablet", "tablets", "{tbl}", "{tablet}", "{tablets}", "cap", "caps", "capsule",
    "capsules", "{capsule}", "{capsules}", "patch", "patches", "{patch}", "{patches}", "ml", "{ml}",
    "film", "films", "lozenge", "lozenges", "spray", "sprays", "puff", "puffs", "actuat", "{actuat}",
    "suppository", "suppositories", "supp", "recsupp", "each", "ea", "unit", "units", "{unit}", "1",
    "{dose}", "dose", "doses", "applicator", "sachet", "sachets",
})
# fmt: on
# Route keywords looked for in the route's text and codings' display: spelling, not codes, so that any
# terminology that names the route in words is read the same way.
ROUTE_WORDS = (
    ("transdermal", "transdermal"),
    ("sublingual", "sublingual"),
    ("buccal", "buccal"),
    ("intravenous", "injection"),
    ("intramuscular", "injection"),
    ("subcutaneous", "injection"),
    ("injection", "injection"),
    ("epidural", "injection"),
    ("intrathecal", "injection"),
    ("nasal", "nasal"),
    ("rectal", "rectal"),
    ("oral", "oral"),
    ("mouth", "oral"),
)


@dataclass(frozen=True)
class DoseReading:
    """What a list of Dosage elements says: units per day (None when unknown), PRN, route, and why."""

    units_per_day: float | None = None
    as_needed: bool = False
    route: str | None = None
    note: str | None = None


def concept_words(concept: object) -> str:
    """The text and every coding display of a CodeableConcept, lower case, for keyword matching."""
    if not isinstance(concept, Mapping):
        return ""
    words = [concept.get("text")]
    words += [c.get("display") for c in concept.get("coding") or [] if isinstance(c, Mapping)]
    return " ".join(w for w in words if isinstance(w, str)).lower()


def route_of(concept: object) -> str | None:
    words = concept_words(concept)
    for keyword, route in ROUTE_WORDS:
        if keyword in words:
            return route
    return None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _amount(dosage: Mapping[str, Any]) -> tuple[float | None, str | None]:
    """The dose per administration (range maximum) and its unit, from doseAndRate or R3-style dose."""
    rates = dosage.get("doseAndRate") or [{}]
    first = rates[0] if isinstance(rates[0], Mapping) else {}
    quantity = first.get("doseQuantity") or dosage.get("dose")
    dose_range = first.get("doseRange")
    if isinstance(dose_range, Mapping):
        quantity = dose_range.get("high") or dose_range.get("low")
    if not isinstance(quantity, Mapping):
        return None, None
    unit = quantity.get("code") or quantity.get("unit")
    return _number(quantity.get("value")), unit.strip().lower() if isinstance(unit, str) else None


def _per_day(timing: object) -> float | None:
    """Administrations per day (maximum) from a Timing, or None when it does not say."""
    if not isinstance(timing, Mapping):
        return None
    repeat = timing.get("repeat")
    if isinstance(repeat, Mapping):
        frequency = _number(repeat.get("frequencyMax")) or _number(repeat.get("frequency"))
        period = _number(repeat.get("period"))
        unit = repeat.get("periodUnit")
        if period and period > 0 and isinstance(unit, str) and unit in PER_DAY:
            return (frequency or 1.0) * PER_DAY[unit] / period
        times = len(repeat.get("timeOfDay") or []) or len(repeat.get("when") or [])
        if times:
            return float(times) * (frequency or 1.0)
    code = timing.get("code")
    if isinstance(code, Mapping):
        for coding in code.get("coding") or []:
            if isinstance(coding, Mapping) and str(coding.get("code")).upper() in TIMING_CODES:
                return TIMING_CODES[str(coding.get("code")).upper()]
    return None


def _one(dosage: Mapping[str, Any], is_patch: bool) -> tuple[float | None, str | None]:
    amount, unit = _amount(dosage)
    if amount is None:
        return None, "the sig gives no dose quantity"
    if unit is not None and unit not in PRODUCT_UNITS:
        return None, f"the dose is in {unit!r}, not in units of the product"
    if is_patch or (unit is not None and "patch" in unit):
        return amount, None
    per_day = _per_day(dosage.get("timing"))
    if per_day is None:
        return None, "the sig's timing gives no frequency per period"
    return amount * per_day, None


def read_dosages(dosages: object, *, is_patch: bool = False) -> DoseReading:
    """Read ``dosageInstruction`` (or ``dosage``) — a list, or one Dosage for MedicationAdministration."""
    items: Sequence[object] = [dosages] if isinstance(dosages, Mapping) else dosages or []  # type: ignore[assignment]
    usable = [d for d in items if isinstance(d, Mapping)]
    if not usable:
        return DoseReading()
    as_needed = any(d.get("asNeededBoolean") is True or "asNeededCodeableConcept" in d for d in usable)
    route = next((r for r in (route_of(d.get("route")) for d in usable) if r), None)
    phases: dict[object, list[Mapping[str, Any]]] = {}
    for dosage in usable:
        phases.setdefault(dosage.get("sequence", 1), []).append(dosage)
    totals: list[float | None] = []
    reasons: list[str] = []
    for group in phases.values():
        readings = [_one(d, is_patch) for d in group]
        reasons += [why for _, why in readings if why]
        values = [value for value, _ in readings]
        totals.append(None if any(v is None for v in values) else sum(v for v in values if v is not None))
    note = reasons[0] if totals[0] is None and reasons else None
    if len(totals) > 1 and len(set(totals)) > 1:
        listed = ", ".join("?" if t is None else f"{t:g}" for t in totals)
        note = f"the sig has {len(totals)} sequential phases ({listed} units/day); the first is used"
    return DoseReading(totals[0], as_needed, route, note)
