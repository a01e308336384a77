"""Clinical alerts about a patient's opioid exposure, shared by the app, the EHR services and trials.

The rules are data (the taper rules' `naloxone` threshold and warning texts, each with its source); this
module only decides which apply to the facts of one patient, so the patient page, a CDS Hooks card and a
trial report say the same thing for the same registry row. An incomplete dose is an unknown dose, not a
low one: below the threshold it still prompts naloxone, saying why.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from taperwise.taper.rules import load_rules

__all__ = ["Alert", "ExposureFacts", "exposure_alerts"]


@dataclass(frozen=True)
class ExposureFacts:
    """What the alerts need from a registry row (the computed picture, never recomputed here)."""

    avg_daily_mme: Decimal
    current_daily_mme: Decimal | None  # the dose on the registry date; None: not computed
    dose_complete: bool | None  # None: not known whether complete (an older registry file)
    benzo_overlap_days: int
    recent_days: int
    opioid_overdoses: int | None = None  # None: no harm events were loaded
    harm_days: int = 180  # the window the overdoses were counted in


@dataclass(frozen=True)
class Alert:
    code: str
    title: str
    message: str
    source: str


def _mme(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP):f}"


def exposure_alerts(facts: ExposureFacts) -> list[Alert]:
    """Naloxone (at or above the rules' MME threshold, a benzodiazepine, a recent overdose, or a dose
    that could not be computed and may be above it) and the opioid with benzodiazepine alert."""
    rules = load_rules()
    threshold = rules.number("naloxone", "mme_at_least")
    reasons = []
    current = facts.current_daily_mme
    if facts.avg_daily_mme >= threshold:
        reasons.append(f"{_mme(facts.avg_daily_mme)} MME/day, at or above {threshold.normalize():f}")
    elif current is not None and current >= threshold:
        reasons.append(f"{_mme(current)} MME/day now (the average is lower), at or above "
                       f"{threshold.normalize():f}")  # fmt: skip
    elif facts.dose_complete is False:
        known = f"; the known part alone is {_mme(facts.avg_daily_mme)}" if facts.avg_daily_mme > 0 else ""
        reasons.append(f"a dose that could not be fully computed and may be {threshold.normalize():f} "
                       f"MME/day or more{known}")  # fmt: skip
    if facts.benzo_overlap_days > 0:
        reasons.append("a benzodiazepine as well")
    if facts.opioid_overdoses:
        reasons.append(f"an opioid overdose in the last {facts.harm_days} days")
    alerts = []
    if reasons:
        rule = rules.warnings["naloxone"]
        message = rule.message.format(reasons="; ".join(reasons))
        alerts.append(Alert("naloxone", "Offer naloxone", message, rules.cite(rule.source_id)))
    if facts.benzo_overlap_days > 0:
        rule = rules.warnings["benzodiazepine"]
        message = (
            f"{facts.benzo_overlap_days} days of overlap in the last {facts.recent_days} days. {rule.message}"
        )
        alerts.append(
            Alert("benzodiazepine", "Opioid with a benzodiazepine", message, rules.cite(rule.source_id))
        )
    return alerts
