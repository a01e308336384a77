"""The patient's picture: what the patient page and its JSON twin show, derived from the store's view.

Nothing here recomputes MME (there is one MME implementation, the exposure engine's); this module only
arranges what the registry published: flags with the definitions the registry wrote beside them, the
regimen active on the registry date, prescriptions grouped by prescriber and by pharmacy (the
fragmentation view), and the alerts. The naloxone and benzodiazepine alerts reuse the taper engine's
rule data (rules.json `naloxone`, warnings.csv), so the threshold and the source are the same in a plan
and on this page. The inherited-patient checklist is data with sources (data/intake-checklist.csv).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from taperwise.store.models import RegistryEntry
from taperwise.store.worklist import PatientView, PrescriptionRow
from taperwise.taper.rules import load_rules
from taperwise.web.charts import Mark, Step

NO_PRESCRIBER = "(not recorded)"


@dataclass(frozen=True)
class Flag:
    name: str
    label: str
    reason: str


@dataclass(frozen=True)
class Alert:
    code: str
    title: str
    message: str
    source: str


@dataclass(frozen=True)
class ChecklistItem:
    item_id: str
    label: str
    detail: str
    source: str


@dataclass(frozen=True)
class Group:
    """Prescriptions sharing one prescriber (or one pharmacy), newest first."""

    key: str
    prescriptions: list[PrescriptionRow]

    @property
    def last_start(self) -> str:
        dates = [p.start_date for p in self.prescriptions if p.start_date is not None]
        return str(max(dates)) if dates else ""


@dataclass(frozen=True)
class PatientPicture:
    view: PatientView
    flags: list[Flag]
    alerts: list[Alert]
    current_regimen: list[PrescriptionRow]
    by_prescriber: list[Group]
    by_pharmacy: list[Group]
    checklist: list[ChecklistItem]
    steps: list[Step]
    marks: list[Mark]
    definitions: dict[str, str]


@cache
def intake_checklist() -> tuple[ChecklistItem, ...]:
    text = (resources.files("taperwise.web") / "data" / "intake-checklist.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(io.StringIO(text, newline=""))
    return tuple(ChecklistItem(r["item_id"], r["label"], r["detail"], r["source"]) for r in rows)


def _mme(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.1')).normalize():f}"


def _definitions(view: PatientView) -> dict[str, str]:
    if view.snapshot is None:
        return {}
    try:
        metadata: Any = json.loads(view.snapshot.metadata_json)
    except ValueError:
        return {}
    found = metadata.get("definitions") if isinstance(metadata, dict) else None
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


FlagRule = tuple[str, str, Callable[[RegistryEntry], bool], Callable[[RegistryEntry], str]]
_FLAGS: tuple[FlagRule, ...] = (
    ("high_dose_90", "High dose (≥ 90 MME/day)", lambda e: e.high_dose_90,
     lambda e: f"average {_mme(e.avg_daily_mme_90d)} MME/day over the last 90 days"),
    ("high_dose_50", "High dose (≥ 50 MME/day)", lambda e: e.high_dose_50 and not e.high_dose_90,
     lambda e: f"average {_mme(e.avg_daily_mme_90d)} MME/day over the last 90 days"),
    ("benzo_overlap_days_90d", "Benzodiazepine overlap", lambda e: e.benzo_overlap_days_90d > 0,
     lambda e: f"{e.benzo_overlap_days_90d} days with an opioid and a benzodiazepine in the last 90 days"),
    ("ltot", "Long-term opioid therapy", lambda e: e.ltot,
     lambda e: f"{e.days_covered_90d} of the last 90 days covered"),
    ("multi_provider", "Many prescribers and pharmacies", lambda e: e.multi_provider,
     lambda e: f"{e.prescribers_180d} prescribers and {e.pharmacies_180d} pharmacies in 180 days"),
    ("new_prescriber", "New prescriber (inherited patient)", lambda e: e.new_prescriber is True,
     lambda e: "the latest fill came from a prescriber who wrote none of the earlier ones"),
    ("buprenorphine_days_90d", "Buprenorphine", lambda e: e.buprenorphine_days_90d > 0,
     lambda e: f"{e.buprenorphine_days_90d} days with buprenorphine in the last 90 days (not in MME)"),
    ("problem_records_180d", "Records that could not be used", lambda e: e.problem_records_180d > 0,
     lambda e: f"{e.problem_records_180d} records: review the data before relying on the dose"),
)  # fmt: skip


def flags_of(entry: RegistryEntry, definitions: dict[str, str]) -> list[Flag]:
    """The flags that are set, each with the patient's own numbers and the registry's definition."""
    out = []
    for name, label, is_set, reason in _FLAGS:
        if is_set(entry):
            definition = definitions.get(name)
            text = reason(entry) + (f" (definition: {definition})" if definition else "")
            out.append(Flag(name, label, text))
    return out


def alerts_of(entry: RegistryEntry) -> list[Alert]:
    """Naloxone (≥ the rules' MME threshold, a benzodiazepine, a recent overdose) and benzodiazepine."""
    rules = load_rules()
    threshold = rules.number("naloxone", "mme_at_least")
    reasons = []
    if entry.avg_daily_mme_90d >= threshold:
        reasons.append(f"{_mme(entry.avg_daily_mme_90d)} MME/day, at or above {threshold.normalize():f}")
    if entry.benzo_overlap_days_90d > 0:
        reasons.append("a benzodiazepine as well")
    if entry.opioid_overdose_180d:
        reasons.append("an opioid overdose in the last 180 days")
    alerts = []
    if reasons:
        rule = rules.warnings["naloxone"]
        message = rule.message.format(reasons="; ".join(reasons))
        alerts.append(Alert("naloxone", "Offer naloxone", message, rules.cite(rule.source_id)))
    if entry.benzo_overlap_days_90d > 0:
        rule = rules.warnings["benzodiazepine"]
        message = f"{entry.benzo_overlap_days_90d} days of overlap in the last 90 days. {rule.message}"
        alerts.append(
            Alert("benzodiazepine", "Opioid with a benzodiazepine", message, rules.cite(rule.source_id))
        )
    return alerts


def group_by(
    prescriptions: Sequence[PrescriptionRow], key: Callable[[PrescriptionRow], str | None]
) -> list[Group]:
    """Groups with the most recent fill first; prescriptions newest first inside each group."""
    groups: dict[str, list[PrescriptionRow]] = {}
    for row in prescriptions:
        groups.setdefault(key(row) or NO_PRESCRIBER, []).append(row)
    built = [
        Group(k, sorted(rows, key=lambda p: (p.start_date is not None, p.start_date), reverse=True))
        for k, rows in groups.items()
    ]
    return sorted(built, key=lambda g: (g.last_start, g.key), reverse=True)


def current_regimen(view: PatientView) -> list[PrescriptionRow]:
    """Prescriptions whose supply covers the registry date."""
    if view.snapshot is None:
        return []
    as_of = view.snapshot.as_of
    return [
        p for p in view.prescriptions
        if p.start_date is not None and p.end_date is not None and p.start_date <= as_of <= p.end_date
    ]  # fmt: skip


def picture_of(view: PatientView) -> PatientPicture:
    definitions = _definitions(view)
    entry = view.entry
    return PatientPicture(
        view=view,
        flags=[] if entry is None else flags_of(entry, definitions),
        alerts=[] if entry is None else alerts_of(entry),
        current_regimen=current_regimen(view),
        by_prescriber=group_by(view.prescriptions, lambda p: p.prescriber_id),
        by_pharmacy=group_by(view.prescriptions, lambda p: p.pharmacy_id),
        checklist=list(intake_checklist()) if entry is not None and entry.new_prescriber else [],
        steps=[Step(s.start_date, s.end_date, s.daily_mme) for s in view.segments],
        marks=[Mark(e.date, e.kind) for e in view.harm_events],
        definitions=definitions,
    )
