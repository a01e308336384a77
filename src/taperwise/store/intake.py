"""The inherited-patient intake in the store: the checklist saved as it is done, and the decision.

Seed 002's lesson: a clinician who inherits a patient on long-term opioids must not let them drop out
of care. An intake opens when its checklist is first saved and stays open — listed on the worklist of
the patient's organisation whether or not the patient is still in the registry — until a clinician
records a decision: continue, continue with a taper plan, refer (with the referral written), or not
take over the prescription (with a bridging plan and a referral written). Each save of an item adds a
row; the newest per item is current, so what was done when, and by whom, is kept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from taperwise.errors import RequestValidationError
from taperwise.knowledge.program import load_intake_checklist, load_intake_decisions
from taperwise.store.audit import record_audit
from taperwise.store.models import IntakeCheck, IntakeReview, Patient, User, utc_now
from taperwise.store.program import clinical_organisations, clinical_patient, display_names
from taperwise.store.security import clean_text


@dataclass(frozen=True)
class CheckState:
    item_id: str
    done: bool
    note: str
    by: str
    at: dt.datetime


@dataclass(frozen=True)
class IntakeView:
    id: int
    patient_id: int
    opened_at: dt.datetime
    checks: Mapping[str, CheckState]
    decision: str | None
    decision_note: str | None
    referral: str | None
    bridging_plan: str | None
    decided_at: dt.datetime | None
    decided_by: str | None

    @property
    def open(self) -> bool:
        return self.decision is None


@dataclass(frozen=True)
class OpenIntake:
    patient_id: int
    label: str
    opened_at: dt.datetime
    items_done: int
    items: int


def _view(s: Session, review: IntakeReview) -> IntakeView:
    rows = list(
        s.scalars(select(IntakeCheck).where(IntakeCheck.intake_id == review.id).order_by(IntakeCheck.id))
    )
    names = display_names(s, review.decided_by_user_id, *(row.checked_by_user_id for row in rows))
    checks = {
        row.item_id: CheckState(
            row.item_id, row.done, row.note, names.get(row.checked_by_user_id, "?"), row.created_at
        )
        for row in rows
    }
    decided_by = names.get(review.decided_by_user_id) if review.decided_by_user_id else None
    return IntakeView(
        review.id,
        review.patient_id,
        review.created_at,
        checks,
        review.decision,
        review.decision_note,
        review.referral,
        review.bridging_plan,
        review.decided_at,
        decided_by,
    )


def current_intake(s: Session, patient_id: int) -> IntakeView | None:
    """The patient's newest intake (open or decided), for the patient page; the caller checked access."""
    review = s.scalars(
        select(IntakeReview)
        .where(IntakeReview.patient_id == patient_id)
        .order_by(IntakeReview.id.desc())
        .limit(1)
    ).first()
    return _view(s, review) if review is not None else None


def _open_review(s: Session, user: User, patient: Patient) -> IntakeReview:
    review = s.scalars(
        select(IntakeReview).where(IntakeReview.patient_id == patient.id, IntakeReview.decided_at.is_(None))
    ).first()
    if review is None:
        review = IntakeReview(
            patient_id=patient.id, organisation_id=patient.organisation_id, opened_by_user_id=user.id
        )
        s.add(review)
        s.flush()
    return review


def save_checklist(
    s: Session, user: User, patient_id: int | str, form: Mapping[str, str], ip: str | None, agent: str | None
) -> IntakeView | None:
    """Save the checklist (`done_<item>` "on", `note_<item>` text): a row for each item that changed."""
    patient = clinical_patient(s, user, patient_id, ip, agent)
    if patient is None:
        return None
    review = _open_review(s, user, patient)
    before = _view(s, review).checks
    changed = []
    for item in load_intake_checklist():
        done = form.get(f"done_{item.item_id}") == "on"
        note = clean_text(f"note_{item.item_id}", form.get(f"note_{item.item_id}", ""))
        old = before.get(item.item_id)
        if (old.done, old.note) == (done, note) if old is not None else (not done and not note):
            continue
        s.add(
            IntakeCheck(
                intake_id=review.id, item_id=item.item_id, done=done, note=note, checked_by_user_id=user.id
            )
        )
        changed.append(item.item_id)
    if changed:
        record_audit(
            s,
            user,
            "update",
            "intake",
            review.id,
            ip,
            agent,
            f"checklist: {', '.join(changed)}",
            organisation_id=patient.organisation_id,
        )
    s.flush()
    return _view(s, review)


def decide(
    s: Session, user: User, patient_id: int | str, form: Mapping[str, str], ip: str | None, agent: str | None
) -> IntakeView | None:
    """End the open intake with a decision; the texts it needs (referral, bridging plan) are required."""
    patient = clinical_patient(s, user, patient_id, ip, agent)
    if patient is None:
        return None
    decisions = {d.decision: d for d in load_intake_decisions()}
    chosen = decisions.get(form.get("decision", ""))
    if chosen is None:
        raise RequestValidationError(
            "decision", f"choose one of: {', '.join(d.label for d in decisions.values())}"
        )
    referral = clean_text("referral", form.get("referral", ""))
    bridging = clean_text("bridging_plan", form.get("bridging_plan", ""))
    if "referral" in chosen.needs and not referral:
        raise RequestValidationError(
            "referral", f"“{chosen.label}” needs the referral written: to whom, and when"
        )
    if "bridging" in chosen.needs and not bridging:
        raise RequestValidationError(
            "bridging_plan", "write who prescribes what until when, so there is no gap"
        )
    review = _open_review(s, user, patient)
    review.decision = chosen.decision
    review.decision_note = clean_text("decision_note", form.get("decision_note", "")) or None
    review.referral = referral or None
    review.bridging_plan = bridging or None
    review.decided_at = utc_now()
    review.decided_by_user_id = user.id
    record_audit(
        s,
        user,
        "update",
        "intake",
        review.id,
        ip,
        agent,
        f"decided: {chosen.decision}",
        organisation_id=patient.organisation_id,
    )
    s.flush()
    return _view(s, review)


def open_intakes(s: Session, user: User) -> tuple[OpenIntake, ...]:
    """Every undecided intake of the user's organisations, oldest first (clinical roles only)."""
    organisations = clinical_organisations(s, user)
    if not organisations:
        return ()
    items = len(load_intake_checklist())
    out = []
    rows = s.execute(
        select(IntakeReview, Patient)
        .join(Patient, Patient.id == IntakeReview.patient_id)
        .where(IntakeReview.organisation_id.in_(organisations), IntakeReview.decided_at.is_(None))
        .order_by(IntakeReview.created_at, IntakeReview.id)
    )
    for review, patient in rows:
        done = sum(1 for check in _view(s, review).checks.values() if check.done)
        out.append(OpenIntake(patient.id, patient.external_id, review.created_at, done, items))
    return tuple(out)
