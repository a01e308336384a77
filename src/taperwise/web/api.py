"""The JSON API under `/api`: the same worklist and patient picture as the pages, documented in OpenAPI.

It shares the pages' session cookie and rules: anonymous → 401, another organisation's patient → 404
(audited as `denied`), analysts and coordinators get de-identified records. Doses are strings with the
engine's four decimals (Decimal, never float, so 90.0000 stays 90.0000 on the wire).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from taperwise.store.worklist import PatientView, PrescriptionRow, WorklistRow, patient_view
from taperwise.web.auth import CurrentUser, client_of, store_of
from taperwise.web.filters import MAX_SEARCH, FilterError, WorklistFilters
from taperwise.web.picture import Group, picture_of

router = APIRouter(prefix="/api", tags=["api"], responses={401: {"description": "Not signed in"}})


class Record(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Me(Record):
    username: str
    display_name: str
    role: str
    specialty: str | None


_UNKNOWN_FLAG = "null: unknown, the dose is incomplete and its lower bound is below the threshold"


class WorklistItem(Record):
    patient_id: int = Field(description="The app's patient number (use it in /api/patients/{id})")
    label: str = Field(description="The registry's patient id, or a pseudonym in de-identified views")
    external_id: str | None
    pseudonym: str
    organisation_code: str
    avg_daily_mme_90d: Decimal = Field(
        description="mme3 over the 90 days ending on the registry date; a lower bound when dose_complete "
        "is false"
    )
    max_daily_mme_90d: Decimal = Field(description="mme4; a lower bound when dose_complete is false")
    days_covered_90d: int
    ltot: bool
    high_dose_50: bool | None = Field(
        description="null: unknown, the dose is incomplete and its lower bound below"
    )
    high_dose_90: bool | None = Field(
        description="null: unknown, the dose is incomplete and its lower bound below"
    )
    benzo_overlap_days_90d: int
    prescribers_180d: int
    pharmacies_180d: int
    multi_provider: bool
    new_prescriber: bool | None
    buprenorphine_days_90d: int
    priority: int
    priority_reason: str
    problem_records_180d: int
    dose_complete: bool | None = Field(
        description="false: some opioid supply in the 90 days has no known MME (see dose_gap); the "
        "averages are lower bounds. null: not computed (a registry published before this field existed)"
    )
    unknown_dose_days_90d: int | None = Field(description="days of the 90 covered by supply of unknown MME")
    dose_gap: str | None = Field(description="why the dose is incomplete")
    current_daily_mme: Decimal | None = Field(
        description="MME/day of the supply covering the registry date (0: none); a lower bound when "
        "dose_complete is false; null: a registry published before this field existed"
    )
    restarted_after_gap: bool | None = Field(
        description="supply restarted in the last 90 days after 30 days or more without any opioid "
        "(the settings' gap), following earlier supply: tolerance may be lost"
    )
    max_includes_overlap_90d: bool | None = Field(
        description="the highest MME/day of the 90 days falls on days when two fills of one product were in "
        "supply at once (an early refill, added); null: a registry published before this field existed"
    )
    harm_events_180d: int | None
    opioid_overdose_180d: int | None
    last_harm_event: str | None


class WorklistPage(BaseModel):
    items: list[WorklistItem]
    page: int
    page_size: int
    total: int
    pages: int


class Prescription(Record):
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


class RegimenItem(Prescription):
    days_since_supply_ended: int = Field(
        description="0 when the supply covers the registry date; else days between its end and that date"
    )


class Segment(Record):
    start_date: dt.date
    end_date: dt.date = Field(description="inclusive")
    daily_mme: Decimal
    n_opioids: int
    overlapping_fills: int | None = Field(
        default=None, description="fills of one product in supply at once beyond the first (an early refill)"
    )


class HarmEventOut(Record):
    date: dt.date
    kind: str
    code: str | None
    code_system: str | None


class PrescriptionGroup(BaseModel):
    key: str
    prescriptions: list[Prescription]


class FlagOut(Record):
    name: str
    label: str
    reason: str


class AlertOut(Record):
    code: str
    title: str
    message: str
    source: str


class ChecklistOut(Record):
    item_id: str
    label: str
    detail: str
    source: str


class PatientOut(BaseModel):
    patient_id: int
    label: str
    identifiable: bool
    external_id: str | None
    pseudonym: str
    organisation_code: str
    sex: str | None
    birth_date: dt.date | None
    as_of: dt.date | None = Field(description="The registry date of the current snapshot")
    factor_set: str | None
    registry: WorklistItem | None = None
    flags: list[FlagOut]
    alerts: list[AlertOut]
    current_regimen: list[RegimenItem] = Field(
        description="each drug's latest supply in the lookback window, covering the registry date first"
    )
    by_prescriber: list[PrescriptionGroup]
    by_pharmacy: list[PrescriptionGroup]
    segments: list[Segment]
    harm_events: list[HarmEventOut]
    intake_checklist: list[ChecklistOut] = Field(description="Shown when the prescriber changed")


@router.get("/me", response_model=Me, summary="The signed-in user")
def me(user: CurrentUser) -> Me:
    return Me.model_validate(user)


@router.get("/worklist", response_model=WorklistPage, summary="The prioritised worklist, filtered")
def worklist_api(
    request: Request,
    user: CurrentUser,
    high_dose_90: bool = Query(False, description="only average ≥ 90 MME/day"),
    benzo: bool = Query(False, description="only with opioid–benzodiazepine overlap"),
    multi_provider: bool = Query(False, description="only with many prescribers and pharmacies"),
    new_prescriber: bool = Query(False, description="only with a new prescriber (inherited)"),
    q: str = Query(
        "",
        max_length=MAX_SEARCH,
        description="text in the patient id or pseudonym, any case (de-identified roles: pseudonym only)",
    ),
    page: int = Query(1, ge=1, le=1_000_000),
) -> WorklistPage:
    ticked = {
        "high_dose_90": high_dose_90,
        "benzo": benzo,
        "multi_provider": multi_provider,
        "new_prescriber": new_prescriber,
    }
    params = {"q": q, "page": str(page)} | {name: "1" for name, on in ticked.items() if on}
    try:
        filters = WorklistFilters.parse(params)
    except FilterError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    with store_of(request).session() as s:
        found = filters.run(s, user, client=client_of(request))
    items = [_worklist_item(row) for row in found.items]
    return WorklistPage(items=items, page=found.page, page_size=found.page_size, total=found.total,
                        pages=found.pages)  # fmt: skip


def _worklist_item(row: WorklistRow) -> WorklistItem:
    return WorklistItem.model_validate(row)


def _groups(groups: list[Group]) -> list[PrescriptionGroup]:
    return [PrescriptionGroup(key=g.key, prescriptions=_prescriptions(g.prescriptions)) for g in groups]


def _prescriptions(rows: list[PrescriptionRow]) -> list[Prescription]:
    return [Prescription.model_validate(row) for row in rows]


def _registry_item(view: PatientView) -> WorklistItem | None:
    if view.entry is None:
        return None
    fields = {
        name: getattr(view.entry, name) for name in WorklistItem.model_fields if hasattr(view.entry, name)
    }
    fields |= {"patient_id": view.patient_id, "label": view.label, "external_id": view.external_id,
               "pseudonym": view.pseudonym, "organisation_code": view.organisation_code}  # fmt: skip
    return WorklistItem.model_validate(fields)


@router.get(
    "/patients/{patient_id}",
    response_model=PatientOut,
    summary="One patient's picture (audited)",
    responses={404: {"description": "No such patient in your organisations"}},
)
def patient_api(request: Request, patient_id: str, user: CurrentUser) -> PatientOut:
    ip, agent = client_of(request)
    with store_of(request).session() as s:
        view = patient_view(s, user, patient_id, ip, agent)
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No patient with this number in your organisations.")
    picture = picture_of(view)
    return PatientOut(
        patient_id=view.patient_id,
        label=view.label,
        identifiable=view.identifiable,
        external_id=view.external_id,
        pseudonym=view.pseudonym,
        organisation_code=view.organisation_code,
        sex=view.sex,
        birth_date=view.birth_date,
        as_of=None if view.snapshot is None else view.snapshot.as_of,
        factor_set=None if view.snapshot is None else view.snapshot.factor_set,
        registry=_registry_item(view),
        flags=[FlagOut.model_validate(f) for f in picture.flags],
        alerts=[AlertOut.model_validate(a) for a in picture.alerts],
        current_regimen=[
            RegimenItem.model_validate(
                Prescription.model_validate(line.prescription).model_dump()
                | {"days_since_supply_ended": line.days_since_end}
            )
            for line in picture.current_regimen
        ],
        by_prescriber=_groups(picture.by_prescriber),
        by_pharmacy=_groups(picture.by_pharmacy),
        segments=[Segment.model_validate(seg) for seg in view.segments],
        harm_events=[HarmEventOut.model_validate(e) for e in view.harm_events],
        intake_checklist=[ChecklistOut.model_validate(c) for c in picture.checklist],
    )
