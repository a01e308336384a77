"""The patient's picture: what the patient page and its JSON twin show, derived from the store's view.

Nothing here recomputes MME (there is one MME implementation, the exposure engine's); this module only
arranges what the registry published: flags with the definitions the registry wrote beside them, the
regimen active on the registry date, prescriptions grouped by prescriber and by pharmacy (the
fragmentation view), and the alerts. The naloxone and benzodiazepine alerts reuse the taper engine's
rule data (rules.json `naloxone`, warnings.csv), so the threshold and the source are the same in a plan
and on this page. The inherited-patient checklist is data with sources
(knowledge/data/program/intake-checklist.csv).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from taperwise.alerts import Alert, ExposureFacts, exposure_alerts
from taperwise.knowledge.program import load_intake_checklist
from taperwise.knowledge.registry import load_registry_settings
from taperwise.registry_schema import label, metadata_values
from taperwise.store.models import RegistryEntry
from taperwise.store.worklist import PatientView, PrescriptionRow
from taperwise.web.charts import Mark, Step

NO_PRESCRIBER = "(not recorded)"


@dataclass(frozen=True)
class Flag:
    name: str
    label: str
    reason: str


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
    current_regimen: list[RegimenLine]
    by_prescriber: list[Group]
    by_pharmacy: list[Group]
    checklist: list[ChecklistItem]
    steps: list[Step]
    marks: list[Mark]
    definitions: dict[str, str]
    labels: dict[str, str]  # column labels with the snapshot's thresholds
    thresholds: tuple[Decimal, Decimal]  # the high-dose lines of the chart
    lookback_days: int = 180  # the snapshot's lookback window (the current regimen reaches back this far)


def intake_checklist() -> tuple[ChecklistItem, ...]:
    return tuple(ChecklistItem(i.item_id, i.label, i.detail, i.source) for i in load_intake_checklist())


def _mme(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.1')).normalize():f}"


def _metadata(view: PatientView) -> dict[str, Any]:
    if view.snapshot is None:
        return {}
    try:
        metadata: Any = json.loads(view.snapshot.metadata_json)
    except ValueError:
        return {}
    return metadata if isinstance(metadata, dict) else {}


def _definitions(metadata: dict[str, Any]) -> dict[str, str]:
    found = metadata.get("definitions")
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def label_values(metadata: dict[str, Any]) -> dict[str, object]:
    """What the registry's labels name (thresholds, windows) as the snapshot was computed."""
    return metadata_values(metadata, load_registry_settings())


def _average(e: RegistryEntry, values: dict[str, object]) -> str:
    bound = "at least " if e.dose_complete is False else ""
    return f"average {bound}{_mme(e.avg_daily_mme_90d)} MME/day over the last {values['recent']} days"


def _unknown_part(e: RegistryEntry) -> str:
    days = e.unknown_dose_days_90d
    if days:
        return f"{days} day{'s' if days != 1 else ''} of supply have no known MME"
    return "opioid records dated in the window could not be used"


def harm_window_days(metadata: dict[str, Any]) -> int:
    """The harm window the snapshot was computed with (its metadata), else the settings' default."""
    raw = metadata.get("thresholds")
    given = raw.get("harm_window_days") if isinstance(raw, dict) else None
    return given if isinstance(given, int) else load_registry_settings().harm_window_days


def _dose_now_above(e: RegistryEntry, values: dict[str, object]) -> bool:
    """Today's dose is at or above the snapshot's low threshold and above the average (a restart, a
    recent rise)."""
    now = e.current_daily_mme
    low = Decimal(str(values["low"]))
    return now is not None and now > e.avg_daily_mme_90d and now >= low


FlagRule = tuple[
    str, Callable[[RegistryEntry, dict[str, object]], bool], Callable[[RegistryEntry, dict[str, object]], str]
]
_FLAGS: tuple[FlagRule, ...] = (
    ("dose_complete", lambda e, v: e.dose_complete is False,
     lambda e, v: f"{_average(e, v)}: a lower bound, because {_unknown_part(e)} "
     f"({e.dose_gap or 'see the prescriptions'}); never read it as a low dose"),
    ("restarted_after_gap", lambda e, v: e.restarted_after_gap is True,
     lambda e, v: f"supply restarted after {v['restart_gap']} days or more without opioids; "
     f"{_mme(e.current_daily_mme or Decimal(0))} MME/day on the registry date: tolerance may be lost"),
    ("current_daily_mme", _dose_now_above,
     lambda e, v: f"{_mme(e.current_daily_mme or Decimal(0))} MME/day on the registry date, above the "
     f"{v['recent']}-day average of {_mme(e.avg_daily_mme_90d)}"),
    ("high_dose_90", lambda e, v: e.high_dose_90 is True, _average),
    ("high_dose_50", lambda e, v: e.high_dose_50 is True and e.high_dose_90 is not True, _average),
    ("benzo_overlap_days_90d", lambda e, v: e.benzo_overlap_days_90d > 0,
     lambda e, v: f"{e.benzo_overlap_days_90d} days with an opioid and a benzodiazepine in the last "
     f"{v['recent']} days"),
    ("ltot", lambda e, v: e.ltot,
     lambda e, v: f"{e.days_covered_90d} of the last {v['recent']} days covered"),
    ("multi_provider", lambda e, v: e.multi_provider,
     lambda e, v: f"{e.prescribers_180d} prescribers and {e.pharmacies_180d} pharmacies in "
     f"{v['lookback']} days"),
    ("new_prescriber", lambda e, v: e.new_prescriber is True,
     lambda e, v: "the latest fill came from a prescriber who wrote none of the earlier ones"),
    ("buprenorphine_days_90d", lambda e, v: e.buprenorphine_days_90d > 0,
     lambda e, v: f"{e.buprenorphine_days_90d} days with buprenorphine in the last {v['recent']} days "
     "(not in MME)"),
    ("problem_records_180d", lambda e, v: e.problem_records_180d > 0,
     lambda e, v: f"{e.problem_records_180d} records: review the data before relying on the dose"),
)  # fmt: skip
_FLAG_LABELS = {
    "dose_complete": "Dose incomplete (lower bound)",
    "current_daily_mme": "Dose now above the average",
}


def flags_of(entry: RegistryEntry, definitions: dict[str, str], values: dict[str, object]) -> list[Flag]:
    """The flags that are set, each with the patient's own numbers and the registry's definition; the
    labels name the thresholds the registry was computed with."""
    out = []
    for name, is_set, reason in _FLAGS:
        if is_set(entry, values):
            definition = definitions.get(name)
            text = reason(entry, values) + (f" (definition: {definition})" if definition else "")
            out.append(Flag(name, _FLAG_LABELS.get(name) or label(name, values), text))
    return out


def alerts_of(entry: RegistryEntry, values: dict[str, object], harm_days: int | None = None) -> list[Alert]:
    """The shared clinical alerts (taperwise.alerts) on the registry's own row; `harm_days`: the
    snapshot's harm window (default: the settings')."""
    recent = values.get("recent")
    facts = ExposureFacts(
        avg_daily_mme=entry.avg_daily_mme_90d,
        current_daily_mme=entry.current_daily_mme,
        dose_complete=entry.dose_complete,
        benzo_overlap_days=entry.benzo_overlap_days_90d,
        recent_days=recent if isinstance(recent, int) else 90,
        opioid_overdoses=entry.opioid_overdose_180d,
        harm_days=harm_days if harm_days is not None else load_registry_settings().harm_window_days,
    )
    return exposure_alerts(facts)


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


@dataclass(frozen=True)
class RegimenLine:
    """The latest supply of one drug in the lookback, and how long before the registry date it ended."""

    prescription: PrescriptionRow
    days_since_end: int  # 0: the supply covers the registry date

    @property
    def covers(self) -> bool:
        return self.days_since_end == 0


# `excluded` rows that are still supply the patient has (buprenorphine — for pain or for opioid use
# disorder — and cough/cold combinations, never in the MME total), told apart by the MME stage's reasons
# from records that are no supply at all (tests/web/test_regimen.py checks these against the engine).
SUPPLY_EXCLUSIONS = ("buprenorphine", "cough/cold combination")
NOT_SUPPLY = ("injectable:", "inpatient administration:", "record status ", "rx_id repeats")


def _is_supply(p: PrescriptionRow) -> bool:
    if p.status != "excluded":
        return True
    reason = p.reason or ""
    return reason.startswith(SUPPLY_EXCLUSIONS) and not any(word in reason for word in NOT_SUPPLY)


def current_regimen(view: PatientView, lookback_days: int) -> list[RegimenLine]:
    """Each drug's latest supply that reaches the lookback window (the registry date and the days before
    it): what the patient is on now, or was on until a few days ago — a fill that ended three days ago is
    still the regimen a clinician must see. Buprenorphine and other supply not counted in MME is part of
    it (shown as not counted); cancelled, repeated, injected or inpatient records are not. Supply covering
    the registry date first, then the most recent."""
    if view.snapshot is None:
        return []
    as_of = view.snapshot.as_of
    first = as_of - dt.timedelta(days=lookback_days - 1)
    latest: dict[tuple[str, str], PrescriptionRow] = {}
    for p in view.prescriptions:
        if p.start_date is None or p.end_date is None or not _is_supply(p):
            continue
        if p.start_date > as_of or p.end_date < first:
            continue
        key = ((p.ingredient or p.drug or "").lower(), p.route or "")
        held = latest.get(key)
        if held is None or (p.start_date, p.end_date) > (held.start_date, held.end_date):
            latest[key] = p
    lines = [
        RegimenLine(p, 0 if p.end_date >= as_of else (as_of - p.end_date).days)  # type: ignore[operator]
        for p in latest.values()
    ]
    return sorted(lines, key=lambda line: (line.days_since_end, -(line.prescription.daily_mme or 0)))


def picture_of(view: PatientView) -> PatientPicture:
    metadata = _metadata(view)
    definitions = _definitions(metadata)
    values = label_values(metadata)
    given = values.get("lookback")
    lookback = given if isinstance(given, int) else 180
    entry = view.entry
    return PatientPicture(
        view=view,
        flags=[] if entry is None else flags_of(entry, definitions, values),
        alerts=[] if entry is None else alerts_of(entry, values, harm_window_days(metadata)),
        current_regimen=current_regimen(view, lookback),
        by_prescriber=group_by(view.prescriptions, lambda p: p.prescriber_id),
        by_pharmacy=group_by(view.prescriptions, lambda p: p.pharmacy_id),
        checklist=list(intake_checklist()) if entry is not None and entry.new_prescriber else [],
        steps=[
            Step(s.start_date, s.end_date, s.daily_mme, overlapping=bool(s.overlapping_fills))
            for s in view.segments
        ],
        marks=[Mark(e.date, e.kind) for e in view.harm_events],
        definitions=definitions,
        labels={
            name: label(name, values)
            for name in (
                "avg_daily_mme_90d",
                "max_daily_mme_90d",
                "current_daily_mme",
                "high_dose_50",
                "high_dose_90",
            )
        },
        thresholds=(Decimal(str(values["low"])), Decimal(str(values["high"]))),
        lookback_days=lookback,
    )
