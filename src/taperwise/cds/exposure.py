"""A hook call's medicines, through the same FHIR ingest and per-row MME as the registry.

The prefetched MedicationRequests, MedicationDispenses and MedicationStatements and the draft orders are
read by the FHIR ingest (`read_resources`: one Bundle, so references resolve and a dispense replaces the
order it fills), then by the exposure engine's own per-row MME (`CompiledMme`). What is current is what
covers the day of the call. Unknown is never zero: an opioid current on that day whose daily dose cannot
be computed makes the total a lower bound, and says which prescription and why.

Draft orders are counted as if signed: each is read as an active order starting on the day of the call
(unless it says otherwise), and its rows are marked ``draft``. A draft with the id of a prefetched order
(an order being re-signed) replaces that order.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from taperwise.cds.calls import HookCall, Resource
from taperwise.exposure.compiled import CompiledMme
from taperwise.ingest.common import MemorySink
from taperwise.ingest.fhir.reader import read_resources
from taperwise.knowledge.cds import CardRules

USED_TYPES = ("MedicationRequest", "MedicationDispense", "MedicationStatement", "Medication")
DRAFT_LABEL = "draftOrders"
PREFETCH_LABEL = "prefetch"


@dataclass(frozen=True)
class Medicine:
    """One prescription row of the call, as the engine computed it."""

    rx_id: str
    drug: str
    ingredient: str | None
    drug_class: str | None
    status: str
    reason: str | None
    daily_mme: Decimal | None
    start_date: dt.date | None
    end_date: dt.date | None
    prescriber_id: str | None
    draft: bool
    selected: bool  # a draft the user selected (order-select), or any draft (order-sign)
    factor_source: str | None

    def covers(self, day: dt.date) -> bool:
        return (
            self.start_date is not None
            and self.end_date is not None
            and self.start_date <= day <= self.end_date
        )


@dataclass(frozen=True)
class HookExposure:
    """The call's medicines and what is current on `day`."""

    day: dt.date
    medicines: tuple[Medicine, ...]
    problems: tuple[str, ...]  # what the ingest could not use, named by record
    factor_set: str
    sedative_of: dict[str, str] = field(default_factory=dict)  # ingredient -> kind

    def current(self, day: dt.date | None = None) -> tuple[Medicine, ...]:
        on = day or self.day
        return tuple(m for m in self.medicines if m.covers(on))

    @property
    def counted(self) -> tuple[Medicine, ...]:
        return tuple(m for m in self.current() if m.drug_class == "opioid" and m.status == "ok")

    @property
    def uncounted_opioids(self) -> tuple[Medicine, ...]:
        """Opioids current on the day (or started in the last 90 days with no known end) whose daily MME
        cannot be computed: they make the total a lower bound."""
        return tuple(
            m
            for m in self.medicines
            if m.drug_class == "opioid" and m.status == "insufficient_data" and self._current_or_recent(m)
        )

    def _current_or_recent(self, m: Medicine) -> bool:
        """Covering the day, or started in the 90 days to it with no known end."""
        recent = self.day - dt.timedelta(days=89)
        return m.covers(self.day) or (
            m.end_date is None and m.start_date is not None and recent <= m.start_date <= self.day
        )

    @property
    def unrecognised(self) -> tuple[Medicine, ...]:
        """Current or recent medicines whose product could not be read: any of them may be an opioid."""
        return tuple(m for m in self.medicines if m.status == "unrecognized" and self._current_or_recent(m))

    @property
    def total_mme(self) -> Decimal:
        return sum((m.daily_mme or Decimal(0) for m in self.counted), Decimal(0))

    @property
    def dose_complete(self) -> bool:
        return not self.uncounted_opioids

    @property
    def opioid_now(self) -> bool:
        return bool(self.counted or self.uncounted_opioids)

    def of_class(self, drug_class: str) -> tuple[Medicine, ...]:
        return tuple(m for m in self.current() if m.drug_class == drug_class)

    def sedatives(self) -> tuple[Medicine, ...]:
        return tuple(m for m in self.current() if m.ingredient in self.sedative_of)


def _entries(value: Resource | None) -> list[Resource]:
    if value is None:
        return []
    if value.get("resourceType") == "Bundle":
        return [
            entry["resource"]
            for entry in value.get("entry") or []
            if isinstance(entry, dict) and isinstance(entry.get("resource"), dict)
        ]
    return [value]


def _as_signed(draft: Resource, day: dt.date) -> Resource:
    """A draft order read as if signed today: status active, authored today unless it says when."""
    signed = copy.deepcopy(draft)
    if signed.get("status") in (None, "draft"):
        signed["status"] = "active"
    signed.setdefault("intent", "order")
    if not signed.get("authoredOn"):
        signed["authoredOn"] = day.isoformat()
    return signed


def _for_patient(row: dict[str, Any], patient_id: str) -> bool:
    return str(row.get("patient_id") or "") == patient_id


def _prefetched(call: HookCall) -> list[Resource]:
    """The prefetched resources taperwise reads: medicines and the Medications they name."""
    return [
        r for value in call.prefetch.values() for r in _entries(value) if r.get("resourceType") in USED_TYPES
    ]


def hook_exposure(
    call: HookCall,
    mme: CompiledMme,
    rules: CardRules,
    day: dt.date,
) -> HookExposure:
    """The call's medicines (prefetched resources and draft orders) with their per-row MME."""
    drafts = [r for r in call.draft_orders if r.get("resourceType") == "MedicationRequest"]
    draft_ids = {str(d.get("id")) for d in drafts}
    kept = [
        r
        for r in _prefetched(call)
        if not (r.get("resourceType") == "MedicationRequest" and str(r.get("id")) in draft_ids)
    ]
    resources: list[Resource] = [*kept, *(_as_signed(d, day) for d in drafts)]
    selected = {f"MedicationRequest/{d.get('id')}" for d in drafts if call.is_selected(d)}
    sink = MemorySink(mme.dates)
    read_resources(resources, sink, "call")
    problems = [f"{p.source}: {p.message}" for p in sink.problems if p.kind != "resource_type_not_used"]
    problems = [p.replace("call#entry", "entry") for p in problems]
    records: list[dict[str, object]] = []
    for row in sink.prescriptions:
        if not _for_patient(row, call.patient_id):
            problems.append(
                f"{row.get('rx_id')} is for another patient ({str(row.get('patient_id'))[:64]}): not counted"
            )
            continue
        records.append(row)
    drafted = {f"MedicationRequest/{i}" for i in draft_ids}
    medicines = tuple(
        _medicine(row, records[row["_row"]], drafted, selected) for row in mme.rows(records).to_pylist()
    )
    sedative_of = {ingredient: kind for kind, names in rules.sedatives.items() for ingredient in names}
    return HookExposure(day, medicines, tuple(problems), mme.factor_set.set_id, sedative_of)


def _medicine(
    row: dict[str, Any], record: dict[str, object], drafted: Iterable[str], selected: Iterable[str]
) -> Medicine:
    rx_id = str(row.get("rx_id") or "")
    return Medicine(
        rx_id=rx_id,
        drug=str(record.get("drug") or row.get("ingredient") or "(no product named)"),
        ingredient=row.get("ingredient"),
        drug_class=row.get("drug_class"),
        status=str(row.get("status")),
        reason=row.get("reason"),
        daily_mme=row.get("daily_mme"),
        start_date=row.get("start_date"),
        end_date=row.get("end_date"),
        prescriber_id=row.get("prescriber_id"),
        draft=rx_id in drafted,
        selected=rx_id in selected,
        factor_source=row.get("factor_source"),
    )
