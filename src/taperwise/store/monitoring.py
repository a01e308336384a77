"""Monitoring and treatment agreements: what was done when, what is due next, and the agreement in force.

Each monitoring kind (PDMP check, urine drug test, naloxone) has an interval in the data
(`monitoring.json`, with its basis); the next one is due that long after the last recorded, and at once
when none is recorded. The agreement holds the goals, a time-limited trial with its stop rule, and the
review interval: its review falls due that long after it was agreed, and the end of the trial is a
reminder to decide, by the stop rule, whether to go on. The due items of every patient in the program
are what the worklist lists, beside the plans' own follow-ups.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from taperwise.errors import RequestValidationError
from taperwise.knowledge.program import load_monitoring_kinds
from taperwise.store.audit import record_audit
from taperwise.store.models import MonitoringEvent, TreatmentAgreement, User, utc_now
from taperwise.store.program import clinical_patient, program_patients
from taperwise.store.security import clean_text

DUE_WITHIN_DAYS = 7


@dataclass(frozen=True)
class MonitoringState:
    kind: str
    label: str
    last_date: dt.date | None
    last_result: str
    due: dt.date  # the last date + the interval, or today when never done
    basis: str


@dataclass(frozen=True)
class AgreementView:
    goals: str
    trial_until: dt.date | None
    stop_rule: str
    review_interval_days: int
    agreed_on: dt.date
    review_due: dt.date


@dataclass(frozen=True)
class DueItem:
    patient_id: int
    label: str
    what: str
    date: dt.date
    overdue: bool


def _date(field: str, value: str, today: dt.date) -> dt.date:
    try:
        day = dt.date.fromisoformat(value.strip())
    except ValueError as exc:
        raise RequestValidationError(field, f"{value[:20]!r} is not a date (YYYY-MM-DD)") from exc
    if day > today:
        raise RequestValidationError(field, "is in the future: record what was done")
    if day.year < 1990:
        raise RequestValidationError(field, "is before 1990: check the year")
    return day


def monitoring_states(s: Session, patient_id: int, today: dt.date) -> tuple[MonitoringState, ...]:
    events = list(
        s.scalars(
            select(MonitoringEvent)
            .where(MonitoringEvent.patient_id == patient_id)
            .order_by(MonitoringEvent.date, MonitoringEvent.id)
        )
    )
    states = []
    for kind in load_monitoring_kinds():
        mine = [event for event in events if event.kind == kind.id]
        last = mine[-1] if mine else None
        due = last.date + dt.timedelta(days=kind.interval_days) if last is not None else today
        states.append(
            MonitoringState(
                kind.id, kind.label, last.date if last else None, last.result if last else "", due, kind.basis
            )
        )
    return tuple(states)


def record_monitoring(
    s: Session,
    user: User,
    patient_id: int | str,
    form: Mapping[str, str],
    ip: str | None,
    agent: str | None,
    today: dt.date,
) -> bool:
    patient = clinical_patient(s, user, patient_id, ip, agent)
    if patient is None:
        return False
    kinds = {kind.id for kind in load_monitoring_kinds()}
    kind = form.get("kind", "")
    if kind not in kinds:
        raise RequestValidationError("kind", f"must be one of {', '.join(sorted(kinds))}")
    day = _date("date", form.get("date", ""), today)
    s.add(
        MonitoringEvent(
            patient_id=patient.id,
            kind=kind,
            date=day,
            result=clean_text("result", form.get("result", "")),
            recorded_by_user_id=user.id,
        )
    )
    record_audit(
        s, user, "create", "monitoring", patient.id, ip, agent, kind, organisation_id=patient.organisation_id
    )
    return True


def current_agreement(s: Session, patient_id: int) -> AgreementView | None:
    row = s.scalars(
        select(TreatmentAgreement)
        .where(TreatmentAgreement.patient_id == patient_id, TreatmentAgreement.superseded_at.is_(None))
        .order_by(TreatmentAgreement.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return AgreementView(
        row.goals,
        row.trial_until,
        row.stop_rule,
        row.review_interval_days,
        row.agreed_on,
        row.agreed_on + dt.timedelta(days=row.review_interval_days),
    )


def record_agreement(
    s: Session,
    user: User,
    patient_id: int | str,
    form: Mapping[str, str],
    ip: str | None,
    agent: str | None,
    today: dt.date,
) -> bool:
    patient = clinical_patient(s, user, patient_id, ip, agent)
    if patient is None:
        return False
    goals = clean_text("goals", form.get("goals", ""))
    if not goals:
        raise RequestValidationError("goals", "write the goals agreed with the patient")
    agreed_on = _date("agreed_on", form.get("agreed_on", ""), today)
    trial_until = None
    if form.get("trial_until", "").strip():
        trial_until = (
            dt.date.fromisoformat(form["trial_until"].strip()) if _is_date(form["trial_until"]) else None
        )
        if trial_until is None or trial_until <= agreed_on:
            raise RequestValidationError("trial_until", "must be a date after the agreement")
    stop_rule = clean_text("stop_rule", form.get("stop_rule", ""))
    if trial_until is not None and not stop_rule:
        raise RequestValidationError("stop_rule", "a time-limited trial needs its stop rule: what ends it")
    try:
        interval = int(form.get("review_interval_days", ""))
    except ValueError as exc:
        raise RequestValidationError("review_interval_days", "must be a whole number of days") from exc
    if not 7 <= interval <= 365:
        raise RequestValidationError("review_interval_days", "must be from 7 to 365 days")
    for row in s.scalars(
        select(TreatmentAgreement).where(
            TreatmentAgreement.patient_id == patient.id, TreatmentAgreement.superseded_at.is_(None)
        )
    ):
        row.superseded_at = utc_now()
    s.add(
        TreatmentAgreement(
            patient_id=patient.id,
            goals=goals,
            trial_until=trial_until,
            stop_rule=stop_rule,
            review_interval_days=interval,
            agreed_on=agreed_on,
            recorded_by_user_id=user.id,
        )
    )
    record_audit(
        s,
        user,
        "create",
        "treatment_agreement",
        patient.id,
        ip,
        agent,
        f"review every {interval} days",
        organisation_id=patient.organisation_id,
    )
    return True


def _is_date(value: str) -> bool:
    try:
        dt.date.fromisoformat(value.strip())
    except ValueError:
        return False
    return True


def due_monitoring(s: Session, user: User, today: dt.date) -> tuple[DueItem, ...]:
    """Monitoring and agreement reviews due within a week or overdue, for every patient in the program of
    the user's organisations (clinical roles only)."""
    patients = program_patients(s, user)
    horizon = today + dt.timedelta(days=DUE_WITHIN_DAYS)
    due = []
    for patient in patients:
        for state in monitoring_states(s, patient.id, today):
            if state.due <= horizon:
                what = state.label + ("" if state.last_date else " (none recorded)")
                due.append(DueItem(patient.id, patient.external_id, what, state.due, state.due < today))
        agreement = current_agreement(s, patient.id)
        if agreement is not None and agreement.review_due <= horizon:
            due.append(
                DueItem(
                    patient.id,
                    patient.external_id,
                    "Review the treatment agreement",
                    agreement.review_due,
                    agreement.review_due < today,
                )
            )
        if agreement is not None and agreement.trial_until is not None and agreement.trial_until <= horizon:
            due.append(
                DueItem(
                    patient.id,
                    patient.external_id,
                    f"Trial period ends: decide by the stop rule ({agreement.stop_rule[:80]})",
                    agreement.trial_until,
                    agreement.trial_until < today,
                )
            )
    return tuple(sorted(due, key=lambda item: (item.date, item.patient_id, item.what)))
