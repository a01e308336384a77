"""Reading the current registry: the worklist page and one patient's whole picture.

Both read only the current (non-superseded) snapshot of the user's own organisations, apply the role
rules of `access`, and — for a patient — write a `view` (or `denied`) audit event in the caller's
transaction, so a view that is shown is a view that is logged.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from taperwise.errors import RequestValidationError
from taperwise.store.access import can_view_identifiable, can_view_patient, organisation_ids
from taperwise.store.audit import record_audit
from taperwise.store.models import (
    HarmEvent,
    Organisation,
    Patient,
    PrescriptionRecord,
    RegistryEntry,
    RegistrySnapshot,
    TrajectorySegment,
    User,
)
from taperwise.store.security import reject_nul

MAX_PAGE_SIZE = 500
MAX_PATIENT_NUMBER = 2**31 - 1  # patients.id is a 32-bit integer on both databases
T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    page: int
    page_size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


@dataclass(frozen=True)
class WorklistRow:
    """One patient on the worklist. `external_id` is None when the user may not see who it is."""

    patient_id: int
    external_id: str | None
    pseudonym: str
    organisation_code: str
    avg_daily_mme_90d: Decimal
    max_daily_mme_90d: Decimal
    days_covered_90d: int
    ltot: bool
    high_dose_50: bool | None  # None: unknown (the dose is incomplete)
    high_dose_90: bool | None
    benzo_overlap_days_90d: int
    prescribers_180d: int
    pharmacies_180d: int
    multi_provider: bool
    new_prescriber: bool | None
    buprenorphine_days_90d: int
    priority: int
    priority_reason: str
    problem_records_180d: int
    dose_complete: bool | None  # None: published before dose completeness was computed
    unknown_dose_days_90d: int | None
    dose_gap: str | None
    current_daily_mme: Decimal | None  # None: published before it was computed
    restarted_after_gap: bool | None
    max_includes_overlap_90d: bool | None  # None: published before it was computed
    harm_events_180d: int | None
    opioid_overdose_180d: int | None
    last_harm_event: str | None
    in_program: bool

    @property
    def label(self) -> str:
        return self.external_id if self.external_id is not None else self.pseudonym


@dataclass(frozen=True)
class PrescriptionRow:
    """One prescription as the patient page shows it (`rx_id` is None in de-identified views)."""

    rx_id: str | None
    drug: str | None
    ingredient: str | None
    start_date: dt.date | None
    end_date: dt.date | None
    days_supply: int | None
    quantity: Decimal | None
    daily_mme: Decimal | None
    status: str
    reason: str | None
    drug_class: str | None
    route: str | None
    prescriber_id: str | None
    pharmacy_id: str | None

    @classmethod
    def of(cls, record: PrescriptionRecord, identifiable: bool) -> PrescriptionRow:
        values = {name: getattr(record, name) for name in cls.__dataclass_fields__}
        return cls(**values | ({} if identifiable else {"rx_id": None}))


@dataclass(frozen=True)
class PatientView:
    """Everything the patient page shows, already cut to what the user may see."""

    patient_id: int
    identifiable: bool
    external_id: str | None
    pseudonym: str
    organisation_code: str
    sex: str | None
    birth_date: dt.date | None
    death_date: dt.date | None
    in_program: bool
    snapshot: RegistrySnapshot | None
    entry: RegistryEntry | None
    segments: list[TrajectorySegment]
    prescriptions: list[PrescriptionRow]
    harm_events: list[HarmEvent]

    @property
    def label(self) -> str:
        return self.external_id if self.external_id is not None else self.pseudonym


def current_snapshots(s: Session, organisations: Sequence[int] | frozenset[int]) -> list[int]:
    """Ids of the current (non-superseded) snapshot of each organisation."""
    if not organisations:
        return []
    query = select(func.max(RegistrySnapshot.id)).where(
        RegistrySnapshot.organisation_id.in_(sorted(organisations)), RegistrySnapshot.superseded_at.is_(None)
    )
    return [i for i in s.scalars(query.group_by(RegistrySnapshot.organisation_id)) if i is not None]


def current_metadata(s: Session, user: User) -> dict[str, Any]:
    """The metadata of the newest current snapshot the user may see (the settings its labels name)."""
    current = current_snapshots(s, organisation_ids(s, user))
    if not current:
        return {}
    snapshot = s.get(RegistrySnapshot, max(current))
    try:
        metadata = json.loads(snapshot.metadata_json) if snapshot is not None else {}
    except ValueError:
        return {}
    return metadata if isinstance(metadata, dict) else {}


_ENTRY_COLUMNS = [
    c for c in WorklistRow.__dataclass_fields__ if hasattr(RegistryEntry, c) and c != "patient_id"
]


def _filters(
    min_mme: float | Decimal | None,
    high_dose_90: bool | None,
    benzo: bool | None,
    multi_provider: bool | None,
    new_prescriber: bool | None,
    search: str | None,
    identifiable: bool = True,
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    # a dose that could not be computed is a lower bound: "at or above" includes it (unknown is not zero)
    incomplete = RegistryEntry.dose_complete.is_(False)
    if min_mme is not None:
        conditions.append(or_(RegistryEntry.avg_daily_mme_90d >= Decimal(str(min_mme)), incomplete))
    if high_dose_90 is not None:
        unknown = RegistryEntry.high_dose_90.is_(None) & incomplete
        conditions.append(or_(RegistryEntry.high_dose_90.is_(True), unknown) if high_dose_90 else
                          RegistryEntry.high_dose_90.is_(False))  # fmt: skip
    if benzo is not None:
        overlap = RegistryEntry.benzo_overlap_days_90d
        conditions.append(overlap > 0 if benzo else overlap == 0)
    if multi_provider is not None:
        conditions.append(RegistryEntry.multi_provider.is_(multi_provider))
    if new_prescriber is not None:
        conditions.append(RegistryEntry.new_prescriber.is_(new_prescriber))
    if search:
        conditions.append(search_condition(search, identifiable))
    return conditions


def _ascii_lower(text: str) -> str:
    """Lower case as both engines' lower() does it on these columns: ASCII letters only."""
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def search_condition(search: str, identifiable: bool) -> ColumnElement[bool]:
    """Rows whose id contains the search text, ignoring case. For a viewer who may not see who patients
    are (`identifiable` False) only the pseudonym is searched: matching the registry's patient id would
    tell them which pseudonym is which patient (issue 11). LIKE's wildcards in the text match themselves."""
    term = _ascii_lower(search.strip())
    pseudonym = func.lower(Patient.pseudonym).contains(term, autoescape=True)
    if not identifiable:
        return pseudonym
    return or_(func.lower(Patient.external_id).contains(term, autoescape=True), pseudonym)


def worklist_query(
    snapshots: Sequence[int], conditions: list[ColumnElement[bool]]
) -> Select[RegistryEntry, Patient, str]:
    snapshot = (
        RegistryEntry.snapshot_id == snapshots[0]
        if len(snapshots) == 1
        else RegistryEntry.snapshot_id.in_(snapshots)
    )
    return (
        select(RegistryEntry, Patient, Organisation.code)
        .join(Patient, Patient.id == RegistryEntry.patient_id)
        .join(Organisation, Organisation.id == Patient.organisation_id)
        .where(snapshot, *conditions)
    )


def worklist(
    s: Session,
    user: User,
    *,
    min_mme: float | Decimal | None = None,
    high_dose_90: bool | None = None,
    benzo: bool | None = None,
    multi_provider: bool | None = None,
    new_prescriber: bool | None = None,
    search: str | None = None,
    page: int = 1,
    page_size: int = 50,
    ip: str | None = None,
    user_agent: str | None = None,
) -> Page[WorklistRow]:
    """One page of the current registry of the user's organisations: priority first, then highest MME."""
    if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise RequestValidationError("page", f"page must be >= 1 and page_size 1..{MAX_PAGE_SIZE}")
    reject_nul("search", search)
    snapshots = current_snapshots(s, organisation_ids(s, user))
    identifiable = can_view_identifiable(user)
    filters = {"min_mme": min_mme, "high_dose_90": high_dose_90, "benzo": benzo,
               "multi_provider": multi_provider, "new_prescriber": new_prescriber}  # fmt: skip
    shown = " ".join(f"{k}={v}" for k, v in filters.items() if v is not None)
    if not snapshots:
        _audit_search(s, user, search, shown, page, 0, ip, user_agent)
        return Page([], page, page_size, 0)
    conditions = _filters(min_mme, high_dose_90, benzo, multi_provider, new_prescriber, search, identifiable)
    base = worklist_query(snapshots, conditions)
    total = s.scalar(select(func.count()).select_from(base.subquery())) or 0
    # Ties are broken by the registry's row order for those who may see ids, by pseudonym for those who
    # may not: the registry's order follows patient ids, and would leak their order.
    tie = RegistryEntry.id if identifiable else Patient.pseudonym
    ordered = base.order_by(RegistryEntry.priority, RegistryEntry.avg_daily_mme_90d.desc(), tie)
    _audit_search(s, user, search, shown, page, total, ip, user_agent)
    items = [
        WorklistRow(
            patient_id=patient.id,
            external_id=patient.external_id if identifiable else None,
            pseudonym=patient.pseudonym,
            organisation_code=code,
            in_program=patient.in_program,
            **{name: getattr(entry, name) for name in _ENTRY_COLUMNS},
        )
        for entry, patient, code in s.execute(ordered.limit(page_size).offset((page - 1) * page_size))
    ]
    return Page(items, page, page_size, total)


def _audit_search(s: Session, user: User, search: str | None, filters: str, page: int, total: int,
                  ip: str | None, user_agent: str | None) -> None:  # fmt: skip
    """A worklist read is a read of patient data: audited like a patient view, with what was asked."""
    asked = f"q={search!r} " if search else ""
    record_audit(s, user, "search", "worklist", None, ip, user_agent,
                 f"{asked}{filters} page={page} results={total}".strip())  # fmt: skip


def _snapshot_rows(s: Session, model: Any, patient_id: int, snapshot_id: int, *order: Any) -> list[Any]:
    query = select(model).where(model.patient_id == patient_id, model.snapshot_id == snapshot_id)
    return list(s.scalars(query.order_by(*order, model.id)))


def patient_number(raw: int | str) -> int | None:
    """The patient number in an address, or None when it cannot be one: ASCII digits only (no sign, no
    spaces, no other scripts' digits), 1 to MAX_PATIENT_NUMBER (the store's 32-bit key)."""
    if isinstance(raw, int):
        return raw if 1 <= raw <= MAX_PATIENT_NUMBER else None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(MAX_PATIENT_NUMBER)):
        return None
    number = int(raw)
    return number if 1 <= number <= MAX_PATIENT_NUMBER else None


def patient_view(
    s: Session, user: User, patient_id: int | str, ip: str | None, user_agent: str | None
) -> PatientView | None:
    """The patient's picture in the current snapshot, or None (audited as `denied`) when not allowed —
    including a number that cannot be a patient's (text, zero, beyond the store's key)."""
    number = patient_number(patient_id)
    if number is None:
        record_audit(s, user, "denied", "patient", patient_id, ip, user_agent, "not a patient number")
        return None
    patient = s.get(Patient, number)
    organisations = organisation_ids(s, user)
    if patient is None or not can_view_patient(user, patient, organisations):
        reason = "no such patient" if patient is None else "patient of another organisation"
        record_audit(s, user, "denied", "patient", number, ip, user_agent, reason,
                     organisation_id=None if patient is None else patient.organisation_id)  # fmt: skip
        return None
    identifiable = can_view_identifiable(user, patient)
    current = current_snapshots(s, [patient.organisation_id])
    snapshot = s.get(RegistrySnapshot, current[0]) if current else None
    entry: RegistryEntry | None = None
    segments: list[TrajectorySegment] = []
    prescriptions: list[PrescriptionRow] = []
    events: list[HarmEvent] = []
    if snapshot is not None:
        entry = s.scalar(
            select(RegistryEntry).where(
                RegistryEntry.patient_id == patient.id, RegistryEntry.snapshot_id == snapshot.id
            )
        )
        segments = _snapshot_rows(s, TrajectorySegment, patient.id, snapshot.id, TrajectorySegment.start_date)
        # NULLS LAST said outright: SQLite would put undated records first and PostgreSQL last.
        records = _snapshot_rows(
            s, PrescriptionRecord, patient.id, snapshot.id, PrescriptionRecord.start_date.asc().nulls_last()
        )
        prescriptions = [PrescriptionRow.of(record, identifiable) for record in records]
        events = _snapshot_rows(s, HarmEvent, patient.id, snapshot.id, HarmEvent.date)
    record_audit(s, user, "view", "patient", patient.id, ip, user_agent,
                 "identifiable" if identifiable else "de-identified",
                 organisation_id=patient.organisation_id)  # fmt: skip
    organisation = s.get(Organisation, patient.organisation_id)
    return PatientView(
        patient_id=patient.id,
        identifiable=identifiable,
        external_id=patient.external_id if identifiable else None,
        pseudonym=patient.pseudonym,
        organisation_code=organisation.code if organisation is not None else "",
        sex=patient.sex,
        birth_date=patient.birth_date if identifiable else None,
        death_date=patient.death_date if identifiable else None,
        in_program=patient.in_program,
        snapshot=snapshot,
        entry=entry,
        segments=segments,
        prescriptions=prescriptions,
        harm_events=events,
    )
