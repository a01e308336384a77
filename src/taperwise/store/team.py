"""What the whole team sees the same way: each patient's review status and the follow-ups that are due.

The review status is recorded (newest row current): *in review* when an assessment starts or a clinician
says so, *in program* when a plan is agreed, *declined* only with the patient's or clinician's reason; a
patient with no row is *not reviewed*. Follow-ups due come from the agreed plans themselves — the next
follow-up date of each plan after its last recorded follow-up — so a reminder is never a second copy that
can drift from the plan.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from taperwise.errors import RequestValidationError
from taperwise.store.audit import record_audit
from taperwise.store.models import Patient, ReviewStatus, TaperPlanRecord, User
from taperwise.store.program import clinical_organisations, clinical_patient
from taperwise.store.security import clean_text

STATUSES = {
    "not_reviewed": "not reviewed",
    "in_review": "in review",
    "in_program": "in program",
    "declined": "declined",
}
DUE_WITHIN_DAYS = 7


@dataclass(frozen=True)
class StatusView:
    status: str
    label: str
    reason: str


@dataclass(frozen=True)
class DueFollowUp:
    patient_id: int
    label: str
    plan_id: int
    date: dt.date
    reason: str
    overdue: bool


def statuses(s: Session, patient_ids: Iterable[int]) -> dict[int, StatusView]:
    """The current status of each patient (one query for a worklist page)."""
    wanted = list(patient_ids)
    current: dict[int, StatusView] = {
        pid: StatusView("not_reviewed", STATUSES["not_reviewed"], "") for pid in wanted
    }
    if not wanted:
        return current
    rows = s.scalars(
        select(ReviewStatus).where(ReviewStatus.patient_id.in_(wanted)).order_by(ReviewStatus.id)
    )
    for row in rows:
        current[row.patient_id] = StatusView(row.status, STATUSES.get(row.status, row.status), row.reason)
    return current


def set_status(
    s: Session, user: User, patient_id: int | str, status: str, reason: str, ip: str | None, agent: str | None
) -> StatusView | None:
    patient = clinical_patient(s, user, patient_id, ip, agent)
    if patient is None:
        return None
    return record_status(s, user, patient, status, reason, ip, agent)


def record_status(
    s: Session, user: User, patient: Patient, status: str, reason: str, ip: str | None, agent: str | None
) -> StatusView:
    if status not in STATUSES or status == "not_reviewed":
        raise RequestValidationError("status", "must be in review, in program or declined")
    text = clean_text("reason", reason)
    if status == "declined" and not text:
        raise RequestValidationError("reason", "say why the patient or clinician declined the program")
    s.add(ReviewStatus(patient_id=patient.id, status=status, reason=text, recorded_by_user_id=user.id))
    record_audit(
        s,
        user,
        "update",
        "review_status",
        patient.id,
        ip,
        agent,
        status,
        organisation_id=patient.organisation_id,
    )
    return StatusView(status, STATUSES[status], text)


def mark_in_review(s: Session, user: User, patient: Patient, ip: str | None, agent: str | None) -> None:
    """When program work starts on a patient nobody has reviewed yet."""
    if statuses(s, [patient.id])[patient.id].status == "not_reviewed":
        record_status(s, user, patient, "in_review", "", ip, agent)


def due_follow_ups(s: Session, user: User, today: dt.date) -> tuple[DueFollowUp, ...]:
    """The next follow-up of every agreed plan of the user's organisations that is due within a week or
    overdue, oldest first (clinical roles only)."""
    organisations = clinical_organisations(s, user)
    if not organisations:
        return ()
    rows = s.execute(
        select(TaperPlanRecord, Patient)
        .join(Patient, Patient.id == TaperPlanRecord.patient_id)
        .where(TaperPlanRecord.organisation_id.in_(organisations), TaperPlanRecord.status == "agreed")
    )
    due = []
    for record, patient in rows:
        plan = json.loads(record.plan_json)
        seen = [dt.date.fromisoformat(entry["date"]) for entry in plan.get("history", [])]
        last = max(seen) if seen else None
        upcoming = [
            (dt.date.fromisoformat(visit["date"]), visit.get("reason", ""))
            for visit in plan.get("follow_ups", [])
            if last is None or dt.date.fromisoformat(visit["date"]) > last
        ]
        if not upcoming:
            continue
        date, reason = min(upcoming)
        if date <= today + dt.timedelta(days=DUE_WITHIN_DAYS):
            due.append(DueFollowUp(patient.id, patient.external_id, record.id, date, reason, date < today))
    return tuple(sorted(due, key=lambda item: (item.date, item.patient_id)))


@dataclass(frozen=True)
class TimelineEntry:
    at: dt.datetime
    what: str
    link: str | None = None


def program_timeline(s: Session, patient_id: int) -> tuple[TimelineEntry, ...]:
    """The patient's program in time order, from the records themselves (the caller has checked access):
    assessments, plans and their follow-ups, alerts, the intake, monitoring, agreements, status changes."""
    from taperwise.store.models import (
        Assessment,
        IntakeReview,
        MonitoringEvent,
        ProgramChoice,
        SafetyAlert,
        TreatmentAgreement,
    )

    base = f"/patients/{patient_id}"
    out: list[TimelineEntry] = []
    for a in s.scalars(select(Assessment).where(Assessment.patient_id == patient_id)):
        out.append(TimelineEntry(a.created_at, f"{a.kind} started", f"{base}/assessments/{a.id}"))
        if a.completed_at is not None:
            out.append(
                TimelineEntry(a.completed_at, f"{a.kind} completed", f"{base}/assessments/{a.id}/summary")
            )
    for plan in s.scalars(select(TaperPlanRecord).where(TaperPlanRecord.patient_id == patient_id)):
        link = f"{base}/plans/{plan.id}"
        if plan.previous_plan_id is not None:
            history = json.loads(plan.plan_json).get("history", [])
            last = history[-1] if history else {}
            out.append(
                TimelineEntry(
                    plan.created_at,
                    f"follow-up: {last.get('decision', '?')} — {last.get('reason', '')}",
                    link,
                )
            )
        else:
            out.append(TimelineEntry(plan.created_at, "taper plan made (draft)", link))
            if plan.agreed_at is not None:
                out.append(TimelineEntry(plan.agreed_at, "taper plan agreed", link))
    for alert in s.scalars(select(SafetyAlert).where(SafetyAlert.patient_id == patient_id)):
        out.append(TimelineEntry(alert.created_at, f"safety alert: {alert.title}"))
        if alert.resolved_at is not None:
            out.append(TimelineEntry(alert.resolved_at, "safety alert closed: what was done recorded"))
    for intake in s.scalars(select(IntakeReview).where(IntakeReview.patient_id == patient_id)):
        out.append(TimelineEntry(intake.created_at, "intake checklist started"))
        if intake.decided_at is not None:
            out.append(TimelineEntry(intake.decided_at, f"intake decided: {intake.decision}"))
    for choice in s.scalars(select(ProgramChoice).where(ProgramChoice.patient_id == patient_id)):
        out.append(TimelineEntry(choice.created_at, f"program chosen: {choice.template_id}"))
    for event in s.scalars(select(MonitoringEvent).where(MonitoringEvent.patient_id == patient_id)):
        out.append(TimelineEntry(event.created_at, f"{event.kind.replace('_', ' ')} on {event.date}"))
    for agreement in s.scalars(select(TreatmentAgreement).where(TreatmentAgreement.patient_id == patient_id)):
        out.append(
            TimelineEntry(agreement.created_at, f"treatment agreement recorded ({agreement.agreed_on})")
        )
    for status in s.scalars(select(ReviewStatus).where(ReviewStatus.patient_id == patient_id)):
        out.append(
            TimelineEntry(status.created_at, f"review status: {STATUSES.get(status.status, status.status)}")
        )
    return tuple(sorted(out, key=lambda entry: entry.at))
