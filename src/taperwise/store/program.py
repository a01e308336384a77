"""The program in the clinical store: assessments and their answers, safety alerts, module sign-offs.

Rules, because this is a clinical record:
- Only clinical roles (clinician, pharmacist, psychologist) of the patient's organisation start, read or
  change an assessment; every read and every change is audited, and a refusal is audited as `denied`
  with the same answer as "no such record" (existence is not disclosed).
- An answer is never updated in place: a change adds a row and stamps the old one superseded, so every
  earlier value stays (who entered it, when). Answers are checked by the instrument's own rules before
  anything is written; a refused answer writes nothing and names the item.
- A safety alert raised by an answer (PHQ-9 item 9 above 0) is written at once and is sticky: changing
  the answer back does not end it. It ends only when a clinician records what was done.
- A module sign-off approves the digest of the module's current texts; a module whose texts changed
  since is a draft again.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from taperwise.errors import RequestValidationError, TaperwiseError
from taperwise.knowledge.instruments import Instrument, instrument_by_id, load_instruments
from taperwise.knowledge.program import Module, load_modules, module_by_id
from taperwise.program.scoring import InstrumentResult, read_answers, score_instrument
from taperwise.store.access import organisation_ids
from taperwise.store.audit import record_audit
from taperwise.store.models import (
    Assessment,
    AssessmentAnswer,
    ModuleSignOff,
    Patient,
    ProgramChoice,
    SafetyAlert,
    TaperPlanRecord,
    User,
    utc_now,
)
from taperwise.store.security import clean_text
from taperwise.store.worklist import patient_number

CLINICAL_ROLES = frozenset({"clinician", "pharmacist", "psychologist"})
KINDS = ("assessment", "follow-up")


def can_record_clinical(user: User) -> bool:
    """May `user` assess, plan, resolve alerts and sign off content? (Clinical roles only.)"""
    return user.active and user.role in CLINICAL_ROLES


@dataclass(frozen=True)
class AlertView:
    id: int
    alert_id: str
    level: str
    title: str
    raised_at: dt.datetime
    assessment_id: int
    resolved_at: dt.datetime | None
    resolved_by: str | None
    resolution: str | None


@dataclass(frozen=True)
class AssessmentSummary:
    id: int
    patient_id: int
    kind: str
    status: str
    started_at: dt.datetime
    started_by: str
    completed_at: dt.datetime | None
    completed_by: str | None


@dataclass(frozen=True)
class AssessmentView:
    summary: AssessmentSummary
    patient_label: str
    instruments: tuple[Instrument, ...]
    answers: Mapping[str, Mapping[str, str]]  # instrument id → item id → the current value as text
    results: Mapping[str, InstrumentResult]
    open_alerts: tuple[AlertView, ...]


@dataclass(frozen=True)
class ModuleStatus:
    module: Module
    status: str  # "draft" or "signed off"
    signed_by: str | None
    signed_at: dt.datetime | None
    earlier_signoffs: int  # sign-offs of texts that have changed since


def clinical_patient(
    s: Session, user: User, patient_id: int | str, ip: str | None, agent: str | None
) -> Patient | None:
    """The patient, when `user` may open program records of them; otherwise None, audited as denied."""
    number = patient_number(patient_id)
    patient = s.get(Patient, number) if number is not None else None
    allowed = (
        patient is not None
        and can_record_clinical(user)
        and patient.organisation_id in organisation_ids(s, user)
    )
    if not allowed:
        if patient is None:
            reason = "no such patient"
        elif not can_record_clinical(user):
            reason = f"role {user.role} may not open program records"
        else:
            reason = "patient of another organisation"
        record_audit(
            s,
            user,
            "denied",
            "patient",
            number if number is not None else patient_id,
            ip,
            agent,
            f"program: {reason}",
        )
        return None
    return patient


def display_names(s: Session, *user_ids: int | None) -> dict[int, str]:
    """Display names of the given users, by id (one query; unknown and None ids left out)."""
    wanted = {user_id for user_id in user_ids if user_id is not None}
    if not wanted:
        return {}
    return {user.id: user.display_name for user in s.scalars(select(User).where(User.id.in_(wanted)))}


def program_patients(s: Session, user: User) -> list[Patient]:
    """Every patient in the program of the organisations whose program records `user` may see."""
    organisations = clinical_organisations(s, user)
    if not organisations:
        return []
    query = select(Patient).where(Patient.organisation_id.in_(organisations), Patient.in_program.is_(True))
    return list(s.scalars(query.order_by(Patient.id)))


def clinical_organisations(s: Session, user: User) -> frozenset[int]:
    """The organisations whose program records `user` may see: none unless a clinical role."""
    return organisation_ids(s, user) if can_record_clinical(user) else frozenset()


def _summary(s: Session, assessment: Assessment) -> AssessmentSummary:
    names = display_names(s, assessment.started_by_user_id, assessment.completed_by_user_id)
    completed_by = names.get(assessment.completed_by_user_id) if assessment.completed_by_user_id else None
    return AssessmentSummary(
        assessment.id,
        assessment.patient_id,
        assessment.kind,
        assessment.status,
        assessment.created_at,
        names.get(assessment.started_by_user_id, "?"),
        assessment.completed_at,
        completed_by,
    )


def instruments_for(kind: str) -> tuple[Instrument, ...]:
    """The instruments of an assessment or a follow-up, in the index's order."""
    return tuple(instrument for instrument in load_instruments() if kind in instrument.used_at)


def start_assessment(
    s: Session, user: User, patient_id: int | str, kind: str, ip: str | None, agent: str | None
) -> AssessmentSummary | None:
    if kind not in KINDS:
        raise RequestValidationError("kind", f"must be one of {', '.join(KINDS)}")
    patient = clinical_patient(s, user, patient_id, ip, agent)
    if patient is None:
        return None
    assessment = Assessment(
        patient_id=patient.id,
        organisation_id=patient.organisation_id,
        kind=kind,
        status="in_progress",
        started_by_user_id=user.id,
    )
    s.add(assessment)
    s.flush()
    record_audit(
        s,
        user,
        "create",
        "assessment",
        assessment.id,
        ip,
        agent,
        f"{kind} started",
        organisation_id=patient.organisation_id,
    )
    from taperwise.store.team import mark_in_review  # team builds on this module

    mark_in_review(s, user, patient, ip, agent)
    return _summary(s, assessment)


def patient_assessments(s: Session, user: User, patient: Patient) -> tuple[AssessmentSummary, ...]:
    """The patient's assessments, newest first (the caller has checked the patient view is allowed)."""
    if not can_record_clinical(user):
        return ()
    rows = s.scalars(
        select(Assessment)
        .where(Assessment.patient_id == patient.id)
        .order_by(Assessment.created_at.desc(), Assessment.id.desc())
    )
    return tuple(_summary(s, row) for row in rows)


def open_alerts(s: Session, patient_id: int) -> tuple[AlertView, ...]:
    rows = s.scalars(
        select(SafetyAlert)
        .where(SafetyAlert.patient_id == patient_id, SafetyAlert.resolved_at.is_(None))
        .order_by(SafetyAlert.created_at)
    )
    return tuple(_alert_view(s, row) for row in rows)


def _alert_view(s: Session, row: SafetyAlert) -> AlertView:
    resolved_by = display_names(s, row.resolved_by_user_id).get(row.resolved_by_user_id or 0)
    return AlertView(
        row.id,
        row.alert_id,
        row.level,
        row.title,
        row.created_at,
        row.assessment_id,
        row.resolved_at,
        resolved_by,
        row.resolution,
    )


R = TypeVar("R", Assessment, SafetyAlert, TaperPlanRecord)  # the program's records of one patient


def patient_record(
    s: Session,
    user: User,
    patient_id: int | str,
    model: type[R],
    record_id: int | str,
    entity: str,
    ip: str | None,
    agent: str | None,
) -> tuple[Patient, R] | None:
    """A program record (`model` row `record_id`) of this patient, when `user` may open it; otherwise None,
    audited as denied with the same answer for "no such record" and "another patient's record"."""
    patient = clinical_patient(s, user, patient_id, ip, agent)
    if patient is None:
        return None
    number = patient_number(record_id)
    record = s.get(model, number) if number is not None else None
    if record is None or record.patient_id != patient.id:
        record_audit(
            s,
            user,
            "denied",
            entity,
            record_id,
            ip,
            agent,
            f"no such {entity.replace('_', ' ')} of this patient",
            organisation_id=patient.organisation_id,
        )
        return None
    return patient, record


def _assessment(
    s: Session, user: User, patient_id: int | str, assessment_id: int | str, ip: str | None, agent: str | None
) -> tuple[Patient, Assessment] | None:
    return patient_record(s, user, patient_id, Assessment, assessment_id, "assessment", ip, agent)


def current_answers(s: Session, assessment_id: int) -> dict[str, dict[str, str]]:
    rows = s.scalars(
        select(AssessmentAnswer).where(
            AssessmentAnswer.assessment_id == assessment_id, AssessmentAnswer.superseded_at.is_(None)
        )
    )
    answers: dict[str, dict[str, str]] = {}
    for row in rows:
        if row.value is not None:
            answers.setdefault(row.instrument_id, {})[row.item_id] = row.value
    return answers


def assessment_results(
    assessment: Assessment, answers: Mapping[str, Mapping[str, str]]
) -> dict[str, InstrumentResult]:
    results = {}
    for instrument in instruments_for(assessment.kind):
        given = answers.get(instrument.id, {})
        results[instrument.id] = score_instrument(instrument, read_answers(instrument, given))
    return results


def assessment_view(
    s: Session, user: User, patient_id: int | str, assessment_id: int | str, ip: str | None, agent: str | None
) -> AssessmentView | None:
    """The assessment with its current answers and scores; the read is audited."""
    found = _assessment(s, user, patient_id, assessment_id, ip, agent)
    if found is None:
        return None
    patient, assessment = found
    record_audit(
        s,
        user,
        "view",
        "assessment",
        assessment.id,
        ip,
        agent,
        assessment.kind,
        organisation_id=patient.organisation_id,
    )
    answers = current_answers(s, assessment.id)
    return AssessmentView(
        _summary(s, assessment),
        patient.external_id,
        instruments_for(assessment.kind),
        answers,
        assessment_results(assessment, answers),
        open_alerts(s, patient.id),
    )


@dataclass(frozen=True)
class SaveResult:
    changed: tuple[str, ...]
    result: InstrumentResult
    raised: tuple[AlertView, ...]  # alerts opened by this save


def save_answers(
    s: Session,
    user: User,
    patient_id: int | str,
    assessment_id: int | str,
    instrument_id: str,
    raw: Mapping[str, str],
    ip: str | None,
    agent: str | None,
) -> SaveResult | None:
    """Save one instrument's answers (blank = not answered). Raises AnswerError naming the item before
    anything is written when an answer is not one the item allows."""
    found = _assessment(s, user, patient_id, assessment_id, ip, agent)
    if found is None:
        return None
    patient, assessment = found
    instrument = instrument_by_id(instrument_id)
    if instrument not in instruments_for(assessment.kind):
        raise RequestValidationError("instrument", f"{instrument.short} is not part of a {assessment.kind}")
    values = _checked(instrument, raw)
    existing = {
        row.item_id: row
        for row in s.scalars(
            select(AssessmentAnswer).where(
                AssessmentAnswer.assessment_id == assessment.id,
                AssessmentAnswer.instrument_id == instrument.id,
                AssessmentAnswer.superseded_at.is_(None),
            )
        )
    }
    now = utc_now()
    changed = []
    for item in instrument.items:
        new = values.get(item.id)
        old = existing.get(item.id)
        if (old.value if old is not None else None) == new:
            continue
        if old is not None:
            old.superseded_at = now
        elif new is None:
            continue
        s.add(
            AssessmentAnswer(
                assessment_id=assessment.id,
                instrument_id=instrument.id,
                instrument_version=instrument.version,
                item_id=item.id,
                value=new,
                entered_by_user_id=user.id,
            )
        )
        changed.append(item.id)
    if changed:
        record_audit(
            s,
            user,
            "update",
            "assessment",
            assessment.id,
            ip,
            agent,
            f"{instrument.id}: changed {', '.join(changed)} (earlier values kept)",
            organisation_id=patient.organisation_id,
        )
    s.flush()
    answers = current_answers(s, assessment.id).get(instrument.id, {})
    result = score_instrument(instrument, read_answers(instrument, answers))
    raised = _raise_alerts(s, user, patient, assessment, result, ip, agent)
    return SaveResult(tuple(changed), result, raised)


def _checked(instrument: Instrument, raw: Mapping[str, str]) -> dict[str, str]:
    """The values to keep, as text: checked against the instrument, blanks left out."""
    for item in instrument.items:
        value = raw.get(item.id)
        if value is not None:
            clean_text(item.id, value)
    known = {item.id for item in instrument.items}
    answers = read_answers(instrument, {key: value for key, value in raw.items() if key in known})
    return {key: str(value) for key, value in answers.items()}


def _raise_alerts(
    s: Session,
    user: User,
    patient: Patient,
    assessment: Assessment,
    result: InstrumentResult,
    ip: str | None,
    agent: str | None,
) -> tuple[AlertView, ...]:
    # One alert per assessment (a resolved one is not raised again by re-saving the same form), and none
    # while the same alert is still open from an earlier visit.
    already = {alert.alert_id for alert in open_alerts(s, patient.id)}
    already |= set(s.scalars(select(SafetyAlert.alert_id).where(SafetyAlert.assessment_id == assessment.id)))
    raised = []
    for alert in result.alerts:
        if alert.status != "raised" or alert.alert_id in already:
            continue
        row = SafetyAlert(
            patient_id=patient.id,
            assessment_id=assessment.id,
            alert_id=alert.alert_id,
            level=alert.level,
            title=alert.title,
            raised_by_user_id=user.id,
        )
        s.add(row)
        s.flush()
        record_audit(
            s,
            user,
            "create",
            "safety_alert",
            row.id,
            ip,
            agent,
            alert.alert_id,
            organisation_id=patient.organisation_id,
        )
        raised.append(_alert_view(s, row))
    return tuple(raised)


def complete_assessment(
    s: Session, user: User, patient_id: int | str, assessment_id: int | str, ip: str | None, agent: str | None
) -> AssessmentSummary | None:
    found = _assessment(s, user, patient_id, assessment_id, ip, agent)
    if found is None:
        return None
    patient, assessment = found
    if assessment.status != "completed":
        assessment.status = "completed"
        assessment.completed_at = utc_now()
        assessment.completed_by_user_id = user.id
        record_audit(
            s,
            user,
            "update",
            "assessment",
            assessment.id,
            ip,
            agent,
            "completed",
            organisation_id=patient.organisation_id,
        )
    return _summary(s, assessment)


def resolve_alert(
    s: Session,
    user: User,
    patient_id: int | str,
    alert_id: int | str,
    resolution: str,
    ip: str | None,
    agent: str | None,
) -> AlertView | None:
    """A clinician records what was done; only then does the alert end."""
    found = patient_record(s, user, patient_id, SafetyAlert, alert_id, "safety_alert", ip, agent)
    if found is None:
        return None
    patient, row = found
    text = clean_text("resolution", resolution)
    if not text:
        raise RequestValidationError(
            "resolution", "say what was done (for example: risk assessed, plan agreed)"
        )
    if row.resolved_at is None:
        row.resolved_at = utc_now()
        row.resolved_by_user_id = user.id
        row.resolution = text
        record_audit(
            s,
            user,
            "update",
            "safety_alert",
            row.id,
            ip,
            agent,
            "resolved",
            organisation_id=patient.organisation_id,
        )
    return _alert_view(s, row)


def module_statuses(s: Session) -> tuple[ModuleStatus, ...]:
    """Each module's status: signed off when someone approved its current digest."""
    signoffs = list(s.scalars(select(ModuleSignOff).order_by(ModuleSignOff.created_at.desc())))
    names = display_names(s, *(row.signed_by_user_id for row in signoffs))
    statuses = []
    for module in load_modules():
        mine = [row for row in signoffs if row.module_id == module.id]
        current = next((row for row in mine if row.digest == module.digest), None)
        earlier = sum(1 for row in mine if row.digest != module.digest)
        if current is None:
            statuses.append(ModuleStatus(module, "draft", None, None, earlier))
        else:
            statuses.append(
                ModuleStatus(
                    module, "signed off", names.get(current.signed_by_user_id), current.created_at, earlier
                )
            )
    return tuple(statuses)


def sign_off_module(
    s: Session, user: User, module_id: str, note: str, ip: str | None, agent: str | None
) -> ModuleStatus | None:
    if not can_record_clinical(user):  # None, not an exception: the refusal stays in the audit log
        record_audit(s, user, "denied", "module", module_id, ip, agent, f"role {user.role} may not sign off")
        return None
    module = module_by_id(module_id)
    note = clean_text("note", note)
    s.add(
        ModuleSignOff(
            module_id=module.id,
            module_version=module.version,
            digest=module.digest,
            signed_by_user_id=user.id,
            note=note,
        )
    )
    record_audit(s, user, "create", "module_signoff", module.id, ip, agent, f"digest {module.digest[:12]}")
    s.flush()
    return next(status for status in module_statuses(s) if status.module.id == module.id)


def answer_history(s: Session, assessment_id: int) -> list[tuple[str, str | None, dt.datetime, str]]:
    """Every value ever saved in an assessment: (item, value, when, who), oldest first."""
    rows = list(
        s.scalars(
            select(AssessmentAnswer)
            .where(AssessmentAnswer.assessment_id == assessment_id)
            .order_by(AssessmentAnswer.id)
        )
    )
    names = display_names(s, *(row.entered_by_user_id for row in rows))
    return [(row.item_id, row.value, row.created_at, names.get(row.entered_by_user_id, "?")) for row in rows]


def latest_results(s: Session, patient_id: int, kind: str) -> dict[str, InstrumentResult]:
    """The scores of the patient's newest assessment of this kind (the caller has checked access): what a
    follow-up form starts from, so the COWS or PEG scored in the app is the one the plan adapts to."""
    newest = s.scalars(
        select(Assessment)
        .where(Assessment.patient_id == patient_id, Assessment.kind == kind)
        .order_by(Assessment.created_at.desc(), Assessment.id.desc())
        .limit(1)
    ).first()
    if newest is None:
        return {}
    return assessment_results(newest, current_answers(s, newest.id))


@dataclass(frozen=True)
class ChosenProgram:
    assessment_id: int
    template_id: str
    module_ids: tuple[str, ...]
    deviations: tuple[dict[str, str], ...]  # {"module_id", "change", "reason"}
    chosen_by: str
    chosen_at: dt.datetime


def save_program_choice(
    s: Session,
    user: User,
    patient_id: int | str,
    assessment_id: int | str,
    template_id: str,
    include: list[str],
    reasons: Mapping[str, str],
    ip: str | None,
    agent: str | None,
) -> ChosenProgram | None:
    """Keep the clinician's choice of modules and format for this assessment. Raises RequestValidationError
    (nothing written) when a recommended module is left out without a reason, or a name is unknown."""
    from taperwise.knowledge.program import template_by_id
    from taperwise.program.selection import assessment_values, choose_modules, recommend

    found = _assessment(s, user, patient_id, assessment_id, ip, agent)
    if found is None:
        return None
    patient, assessment = found
    try:
        template_by_id(template_id)
    except TaperwiseError as exc:
        raise RequestValidationError("template", str(exc)) from exc
    reasons = {key: clean_text(f"reason.{key}", value) for key, value in reasons.items()}
    results = assessment_results(assessment, current_answers(s, assessment.id))
    try:
        choice = choose_modules(recommend(assessment_values(results.values())), include, dict(reasons))
    except TaperwiseError as exc:
        raise RequestValidationError(
            getattr(exc, "field", "modules"), str(getattr(exc, "problem", exc))
        ) from exc
    deviations = [
        {"module_id": d.module_id, "change": d.change, "reason": d.reason} for d in choice.deviations
    ]
    row = ProgramChoice(
        patient_id=patient.id,
        assessment_id=assessment.id,
        template_id=template_id,
        modules_json=json.dumps(list(choice.module_ids)),
        deviations_json=json.dumps(deviations),
        chosen_by_user_id=user.id,
    )
    s.add(row)
    s.flush()
    record_audit(
        s,
        user,
        "create",
        "program_choice",
        row.id,
        ip,
        agent,
        f"{template_id}: {len(choice.module_ids)} modules, {len(deviations)} changes from the recommendation",
        organisation_id=patient.organisation_id,
    )
    return _chosen(s, row)


def _chosen(s: Session, row: ProgramChoice) -> ChosenProgram:
    by = display_names(s, row.chosen_by_user_id).get(row.chosen_by_user_id, "?")
    return ChosenProgram(
        row.assessment_id,
        row.template_id,
        tuple(json.loads(row.modules_json)),
        tuple(json.loads(row.deviations_json)),
        by,
        row.created_at,
    )


def current_program(s: Session, patient_id: int) -> ChosenProgram | None:
    row = s.scalars(
        select(ProgramChoice)
        .where(ProgramChoice.patient_id == patient_id)
        .order_by(ProgramChoice.id.desc())
        .limit(1)
    ).first()
    return _chosen(s, row) if row is not None else None
