"""Outcomes per patient and per clinic, from what the store already holds — computed once elsewhere:
the first agreed plan's baseline dose (the engine's), the current daily MME of the latest registry
snapshot (the exposure engine's), and PEG and PHQ-9 as scored in the app's assessments."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from taperwise.program.outcomes import Outcome, tapering_success
from taperwise.store.models import Assessment, Patient, RegistryEntry, TaperPlanRecord, User
from taperwise.store.program import assessment_results, current_answers, program_patients
from taperwise.store.worklist import current_snapshots


@dataclass(frozen=True)
class Measure:
    date: dt.date
    kind: str
    peg: Decimal | None
    phq9: Decimal | None


@dataclass(frozen=True)
class PatientOutcome:
    patient_id: int
    label: str
    program_start: dt.date | None
    baseline_mme: Decimal | None
    current_mme: Decimal | None
    current_is_lower_bound: bool
    measures: tuple[Measure, ...]
    outcome: Outcome


def _measures(s: Session, patient_id: int) -> tuple[Measure, ...]:
    rows = s.scalars(
        select(Assessment)
        .where(Assessment.patient_id == patient_id)
        .order_by(Assessment.created_at, Assessment.id)
    )
    out = []
    for assessment in rows:
        results = assessment_results(assessment, current_answers(s, assessment.id))
        scores = {score.score_id: score.value for result in results.values() for score in result.scores}
        out.append(
            Measure(
                assessment.created_at.date(),
                assessment.kind,
                scores.get("peg_score"),
                scores.get("phq9_total"),
            )
        )
    return tuple(out)


def patient_outcome(s: Session, patient: Patient) -> PatientOutcome:
    """The caller has checked that the user may see this patient's program records."""
    first = s.scalars(
        select(TaperPlanRecord)
        .where(TaperPlanRecord.patient_id == patient.id, TaperPlanRecord.agreed_at.is_not(None))
        .order_by(TaperPlanRecord.agreed_at, TaperPlanRecord.id)
        .limit(1)
    ).first()
    baseline = start = None
    if first is not None:
        plan = json.loads(first.plan_json)
        baseline = Decimal(str(plan["baseline"]["daily_mme"]))
        start = dt.date.fromisoformat(plan["baseline"]["start_date"])
    snapshots = current_snapshots(s, [patient.organisation_id])
    entry = None
    if snapshots:
        entry = s.scalar(
            select(RegistryEntry).where(
                RegistryEntry.patient_id == patient.id, RegistryEntry.snapshot_id == snapshots[0]
            )
        )
    current = entry.current_daily_mme if entry is not None else (Decimal(0) if snapshots else None)
    lower_bound = bool(entry is not None and entry.dose_complete is False)
    measures = _measures(s, patient.id)
    pegs = [m.peg for m in measures if m.peg is not None]
    baseline_peg = pegs[0] if pegs else None
    current_peg = pegs[-1] if len(pegs) > 1 else None
    outcome = tapering_success(
        baseline, current, baseline_peg, current_peg, current_is_lower_bound=lower_bound
    )
    return PatientOutcome(
        patient.id, patient.external_id, start, baseline, current, lower_bound, measures, outcome
    )


def clinic_outcomes(s: Session, user: User) -> tuple[PatientOutcome, ...]:
    """Every patient in the program of the user's organisations (clinical roles only)."""
    patients = program_patients(s, user)
    return tuple(patient_outcome(s, patient) for patient in patients)
