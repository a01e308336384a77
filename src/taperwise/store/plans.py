"""Taper plans in the clinical store: drafts made with the engine, acknowledged warnings, agreement.

The request a clinician and patient chose is run through the taper engine (`plan_taper`, the same as the
command line) and kept with the plan it returned: a plan is never recomputed on reading, so what was
agreed is what is shown and printed. A draft is agreed only when every `requires_review` warning has an
acknowledgement with a reason from a clinical role; agreeing supersedes the patient's earlier agreed plan
(kept) and marks the patient as in the program. The same access rule as the rest of the program: clinical
roles of the patient's organisation, refusals audited as denied.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from taperwise.errors import RequestValidationError
from taperwise.store.audit import record_audit
from taperwise.store.models import PlanWarningAcknowledgement, TaperPlanRecord, User, utc_now
from taperwise.store.program import clinical_patient, display_names, patient_record
from taperwise.store.security import clean_text
from taperwise.store.team import record_status, statuses
from taperwise.taper.plan import TaperPlan


@dataclass(frozen=True)
class Acknowledgement:
    warning_code: str
    reason: str
    by: str
    at: dt.datetime


@dataclass(frozen=True)
class PlanSummary:
    id: int
    patient_id: int
    status: str
    created_at: dt.datetime
    created_by: str
    agreed_at: dt.datetime | None
    agreed_by: str | None
    goal_date: str | None
    baseline_mme: str


@dataclass(frozen=True)
class PlanView:
    summary: PlanSummary
    patient_label: str
    plan: TaperPlan
    request: dict[str, Any]
    acknowledgements: tuple[Acknowledgement, ...]

    @property
    def unacknowledged(self) -> tuple[str, ...]:
        """The requires_review warnings still waiting for a reason (by code, in the plan's order)."""
        done = {ack.warning_code for ack in self.acknowledgements}
        codes = [w.code for w in self.plan.warnings if w.severity == "requires_review" and w.code not in done]
        return tuple(dict.fromkeys(codes))


def _summary(s: Session, record: TaperPlanRecord) -> PlanSummary:
    names = display_names(s, record.created_by_user_id, record.agreed_by_user_id)
    summary = json.loads(record.plan_json).get("summary", {})
    return PlanSummary(
        id=record.id,
        patient_id=record.patient_id,
        status=record.status,
        created_at=record.created_at,
        created_by=names.get(record.created_by_user_id, "?"),
        agreed_at=record.agreed_at,
        agreed_by=names.get(record.agreed_by_user_id) if record.agreed_by_user_id else None,
        goal_date=summary.get("goal_date"),
        baseline_mme=str(summary.get("baseline_daily_mme", "")),
    )


def create_plan(
    s: Session, user: User, patient_id: int | str, request: dict[str, Any], ip: str | None, agent: str | None
) -> PlanSummary | None:
    """Run the engine on `request` and keep the draft. Raises RequestValidationError naming the field
    (nothing is written) when the engine refuses the request."""
    from taperwise.taper import plan_taper

    patient = clinical_patient(s, user, patient_id, ip, agent)
    if patient is None:
        return None
    plan = plan_taper(request)
    record = TaperPlanRecord(
        patient_id=patient.id,
        organisation_id=patient.organisation_id,
        status="draft",
        request_json=json.dumps(request, sort_keys=True),
        plan_json=plan.to_json(),
        created_by_user_id=user.id,
    )
    s.add(record)
    s.flush()
    record_audit(
        s,
        user,
        "create",
        "taper_plan",
        record.id,
        ip,
        agent,
        f"draft: {len(plan.steps)} steps, {len(plan.warnings)} warnings",
        organisation_id=patient.organisation_id,
    )
    return _summary(s, record)


def _record(
    s: Session, user: User, patient_id: int | str, plan_id: int | str, ip: str | None, agent: str | None
) -> TaperPlanRecord | None:
    found = patient_record(s, user, patient_id, TaperPlanRecord, plan_id, "taper_plan", ip, agent)
    return found[1] if found is not None else None


def _view(s: Session, record: TaperPlanRecord, patient_label: str) -> PlanView:
    acks = list(
        s.scalars(
            select(PlanWarningAcknowledgement)
            .where(PlanWarningAcknowledgement.plan_id == record.id)
            .order_by(PlanWarningAcknowledgement.id)
        )
    )
    names = display_names(s, *(ack.acknowledged_by_user_id for ack in acks))
    acknowledgements = tuple(
        Acknowledgement(
            ack.warning_code, ack.reason, names.get(ack.acknowledged_by_user_id, "?"), ack.created_at
        )
        for ack in acks
    )
    plan = TaperPlan.from_dict(json.loads(record.plan_json))
    return PlanView(
        _summary(s, record), patient_label, plan, json.loads(record.request_json), acknowledgements
    )


def plan_view(
    s: Session,
    user: User,
    patient_id: int | str,
    plan_id: int | str,
    ip: str | None,
    agent: str | None,
    *,
    action: str = "view",
) -> PlanView | None:
    """The plan as it was made; the read is audited (`export` when it is printed)."""
    record = _record(s, user, patient_id, plan_id, ip, agent)
    if record is None:
        return None
    from taperwise.store.models import Patient

    patient = s.get(Patient, record.patient_id)
    assert patient is not None
    record_audit(
        s,
        user,
        action,
        "taper_plan",
        record.id,
        ip,
        agent,
        record.status,
        organisation_id=record.organisation_id,
    )
    return _view(s, record, patient.external_id)


def acknowledge_warning(
    s: Session,
    user: User,
    patient_id: int | str,
    plan_id: int | str,
    code: str,
    reason: str,
    ip: str | None,
    agent: str | None,
) -> bool:
    """Record why the plan goes ahead despite a requires_review warning. False when not allowed."""
    record = _record(s, user, patient_id, plan_id, ip, agent)
    if record is None:
        return False
    if record.status != "draft":
        raise RequestValidationError("plan", f"is {record.status}; make a new plan to change it")
    plan = TaperPlan.from_dict(json.loads(record.plan_json))
    codes = {w.code for w in plan.warnings if w.severity == "requires_review"}
    if code not in codes:
        raise RequestValidationError("warning", "is not a warning of this plan that requires review")
    text = clean_text(f"reason.{code}", reason)
    if not text:
        raise RequestValidationError(f"reason.{code}", "say why the plan goes ahead despite this warning")
    s.add(
        PlanWarningAcknowledgement(
            plan_id=record.id, warning_code=code, reason=text, acknowledged_by_user_id=user.id
        )
    )
    record_audit(
        s,
        user,
        "create",
        "plan_acknowledgement",
        record.id,
        ip,
        agent,
        code,
        organisation_id=record.organisation_id,
    )
    return True


def agree_plan(
    s: Session, user: User, patient_id: int | str, plan_id: int | str, ip: str | None, agent: str | None
) -> PlanSummary | None:
    record = _record(s, user, patient_id, plan_id, ip, agent)
    if record is None:
        return None
    if record.status == "agreed":
        return _summary(s, record)
    if record.status != "draft":
        raise RequestValidationError("plan", f"is {record.status}; make a new plan")
    from taperwise.store.models import Patient

    patient = s.get(Patient, record.patient_id)
    assert patient is not None
    waiting = _view(s, record, patient.external_id).unacknowledged
    if waiting:
        raise RequestValidationError(
            "plan",
            "cannot be agreed until each warning that requires review has a reason: " + ", ".join(waiting),
        )
    now = utc_now()
    for earlier in s.scalars(
        select(TaperPlanRecord).where(
            TaperPlanRecord.patient_id == record.patient_id, TaperPlanRecord.status == "agreed"
        )
    ):
        earlier.status = "superseded"
        earlier.superseded_at = now
        record_audit(
            s,
            user,
            "supersede",
            "taper_plan",
            earlier.id,
            ip,
            agent,
            f"by plan {record.id}",
            organisation_id=record.organisation_id,
        )
    record.status = "agreed"
    record.agreed_at = now
    record.agreed_by_user_id = user.id
    if not patient.in_program:
        patient.in_program = True
    if statuses(s, [patient.id])[patient.id].status != "in_program":
        record_status(s, user, patient, "in_program", f"plan {record.id} agreed", ip, agent)
    record_audit(
        s,
        user,
        "update",
        "taper_plan",
        record.id,
        ip,
        agent,
        "agreed",
        organisation_id=record.organisation_id,
    )
    return _summary(s, record)


def patient_plans(s: Session, patient_id: int) -> tuple[PlanSummary, ...]:
    """The patient's plans, newest first (the caller has checked access)."""
    rows = s.scalars(
        select(TaperPlanRecord)
        .where(TaperPlanRecord.patient_id == patient_id)
        .order_by(TaperPlanRecord.created_at.desc(), TaperPlanRecord.id.desc())
    )
    return tuple(_summary(s, row) for row in rows)


def record_follow_up(
    s: Session,
    user: User,
    patient_id: int | str,
    plan_id: int | str,
    follow_up: dict[str, Any],
    ip: str | None,
    agent: str | None,
) -> PlanSummary | None:
    """Run the engine's adaptation on the agreed plan with this follow-up; the adapted plan replaces it
    (agreed, naming the plan it replaced, the follow-up kept) and the old one is superseded. Raises
    RequestValidationError naming the field when the engine refuses the follow-up; nothing is written."""
    from taperwise.taper import adapt_plan

    record = _record(s, user, patient_id, plan_id, ip, agent)
    if record is None:
        return None
    if record.status != "agreed":
        raise RequestValidationError("plan", f"is {record.status}: a follow-up adapts the agreed plan")
    adapted = adapt_plan(json.loads(record.plan_json), follow_up)
    now = utc_now()
    new = TaperPlanRecord(
        patient_id=record.patient_id,
        organisation_id=record.organisation_id,
        status="agreed",
        request_json=record.request_json,
        plan_json=adapted.to_json(),
        created_by_user_id=user.id,
        agreed_at=now,
        agreed_by_user_id=user.id,
        previous_plan_id=record.id,
        follow_up_json=json.dumps(follow_up, sort_keys=True),
    )
    record.status = "superseded"
    record.superseded_at = now
    s.add(new)
    s.flush()
    decision = adapted.history[-1] if adapted.history else None
    detail = f"follow-up: {decision.decision} ({decision.rule})" if decision else "follow-up"
    record_audit(
        s,
        user,
        "supersede",
        "taper_plan",
        record.id,
        ip,
        agent,
        f"by plan {new.id} after a follow-up",
        organisation_id=record.organisation_id,
    )
    record_audit(
        s, user, "create", "taper_plan", new.id, ip, agent, detail, organisation_id=record.organisation_id
    )
    return _summary(s, new)
