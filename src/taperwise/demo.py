"""A synthetic patient already in the program, for the demo: an assessment, an agreed plan, a follow-up.

`make demo` runs `python -m taperwise.demo --db URL --org DEMO --user demo-gp` after
publishing the synthetic registry. It takes the highest-priority patient of the organisation's current
snapshot whose current opioid the taper engine can plan, and records — through the store's own
functions, audited as the named user with "synthetic demo" in the detail — a completed assessment with
invented answers, a plan started five weeks ago and agreed (requires_review warnings acknowledged as
synthetic), a follow-up assessment and a follow-up of the plan. Everything it writes is invented; it
refuses to run on an organisation whose patients already have program records, so it never mixes with
real ones.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from taperwise.errors import RequestValidationError, TaperwiseError
from taperwise.knowledge.model import Product
from taperwise.knowledge.parser import parse_product
from taperwise.store import open_store
from taperwise.store import plans as plan_store
from taperwise.store import program as program_store
from taperwise.store.models import Assessment, Organisation, Patient, User
from taperwise.store.users import get_user_by_name
from taperwise.store.worklist import patient_view, worklist
from taperwise.web.picture import picture_of

SYNTHETIC = "synthetic demo"
ASSESSMENT = {
    "peg": {"peg_pain": "7", "peg_enjoyment": "6", "peg_activity": "6"},
    "phq9": {**{f"phq9_{n}": "1" for n in range(1, 9)}, "phq9_9": "0"},
    "gad7": {f"gad7_{n}": "1" for n in range(1, 8)},
    "ort": {
        "ort_sex": "1",
        "ort_fam_alcohol": "0",
        "ort_fam_illegal": "0",
        "ort_fam_rx": "0",
        "ort_own_alcohol": "0",
        "ort_own_illegal": "0",
        "ort_own_rx": "0",
        "ort_age": "0",
        "ort_abuse": "0",
        "ort_psych": "0",
        "ort_depression": "1",
    },
    "readiness": {"ready_importance": "6", "ready_confidence": "3"},
    "bfq": {
        "bfq_pain_1": "4",
        "bfq_pain_2": "3",
        "bfq_pain_3": "1",
        "bfq_emotion_1": "3",
        "bfq_emotion_2": "3",
        "bfq_addiction_1": "2",
        "bfq_addiction_2": "1",
        "bfq_addiction_3": "3",
        "bfq_withdrawal_1": "4",
        "bfq_withdrawal_2": "3",
        "bfq_motivation_1": "3",
        "bfq_motivation_2": "3",
        "bfq_motivation_3": "1",
        "bfq_efficacy_1": "1",
        "bfq_efficacy_2": "2",
        "bfq_support_1": "3",
        "bfq_support_2": "1",
        "bfq_support_3": "2",
        "bfq_tried": "0",
    },
}
FOLLOW_UP = {
    "cows": {
        "cows_pulse": "1",
        "cows_sweating": "1",
        "cows_restlessness": "1",
        "cows_pupils": "0",
        "cows_aches": "1",
        "cows_nose_eyes": "1",
        "cows_gut": "0",
        "cows_tremor": "0",
        "cows_yawning": "1",
        "cows_anxiety": "1",
        "cows_gooseflesh": "0",
    },
    "peg": {"peg_pain": "6", "peg_enjoyment": "5", "peg_activity": "5"},
    "phq9": {**{f"phq9_{n}": "1" for n in range(1, 9)}, "phq9_9": "0"},
    "readiness": {"ready_importance": "7", "ready_confidence": "5"},
}


class DemoError(TaperwiseError):
    """The demo patient cannot be made (no store, no such user, records already there)."""


@dataclass(frozen=True)
class DemoPatient:
    patient_id: int
    label: str
    plan_id: int


def _regimen_line(drug: str, quantity: Decimal | None, days: int | None) -> dict[str, Any] | None:
    """An invented 'what the patient takes' from the supply: whole units, twice a day (for the demo only)."""
    product = parse_product(drug)
    if not isinstance(product, Product) or not quantity or not days:
        return None
    opioid = [i for i in product.ingredients if i.drug_class.value == "opioid"]
    if len(opioid) != 1 or product.dose_form not in ("tablet", "capsule"):
        return None
    per_day = max(2, round(quantity / days))
    units = max(1, per_day // 2)
    return {"drug": drug, "dose": float(opioid[0].strength * units), "times_per_day": 2}


def _candidates(s: Session, user: User) -> list[tuple[int, str, dict[str, Any], bool]]:
    found = []
    for row in worklist(s, user, page_size=100).items:
        view = patient_view(s, user, row.patient_id, None, SYNTHETIC)
        if view is None or view.entry is None:
            continue
        for line in picture_of(view).current_regimen:
            prescription = line.prescription
            if prescription.status != "ok" or not prescription.drug:
                continue
            regimen = _regimen_line(prescription.drug, prescription.quantity, prescription.days_supply)
            if regimen is not None:
                benzodiazepine = bool(view.entry.benzo_overlap_days_90d)
                found.append((row.patient_id, view.label, regimen, benzodiazepine))
                break
    return found


def seed(store_url: str, organisation: str, username: str, today: dt.date | None = None) -> DemoPatient:
    today = today or dt.date.today()
    store = open_store(store_url)
    try:
        with store.session() as s:
            user = get_user_by_name(s, username)
            if user is None or not program_store.can_record_clinical(user):
                raise DemoError(f"{username!r} is not a clinician, pharmacist or psychologist of the store")
            org = s.scalar(select(Organisation).where(Organisation.code == organisation))
            if org is None:
                raise DemoError(f"no organisation {organisation!r} in the store")
            existing = s.scalar(
                select(func.count()).select_from(Assessment).where(Assessment.organisation_id == org.id)
            )
            if existing:
                raise DemoError(
                    f"organisation {organisation} already has program records: the demo adds none"
                )
            candidates = _candidates(s, user)
        for patient_id, label, regimen, benzodiazepine in candidates:
            try:
                return _record(store, username, patient_id, label, regimen, benzodiazepine, today)
            except RequestValidationError:
                continue  # this regimen is not one the engine plans as given: try the next patient
        raise DemoError("no patient of the current snapshot has a current oral opioid the demo can plan")
    finally:
        store.close()


def _record(
    store: Any,
    username: str,
    patient_id: int,
    label: str,
    regimen: dict[str, Any],
    benzodiazepine: bool,
    today: dt.date,
) -> DemoPatient:
    with store.session() as s:
        user = get_user_by_name(s, username)
        assert user is not None
        assessment = program_store.start_assessment(s, user, patient_id, "assessment", None, SYNTHETIC)
        assert assessment is not None
        for instrument, answers in ASSESSMENT.items():
            program_store.save_answers(
                s, user, patient_id, assessment.id, instrument, answers, None, SYNTHETIC
            )
        program_store.complete_assessment(s, user, patient_id, assessment.id, None, SYNTHETIC)
        request = {
            "start_date": (today - dt.timedelta(days=35)).isoformat(),
            "regimen": [regimen],
            "opioid_use_days": 400,
            "goal": {"type": "discontinue"},
            "pace": {"reduction": 10, "unit": "percent_of_original", "every_days": 28},
            "patient_factors": {"benzodiazepine": benzodiazepine},
        }
        plan = plan_store.create_plan(s, user, patient_id, request, None, SYNTHETIC)
        assert plan is not None
        view = plan_store.plan_view(s, user, patient_id, plan.id, None, SYNTHETIC)
        assert view is not None
        for code in view.unacknowledged:
            plan_store.acknowledge_warning(
                s, user, patient_id, plan.id, code, f"{SYNTHETIC}: reviewed", None, SYNTHETIC
            )
        plan_store.agree_plan(s, user, patient_id, plan.id, None, SYNTHETIC)
        follow = program_store.start_assessment(s, user, patient_id, "follow-up", None, SYNTHETIC)
        assert follow is not None
        for instrument, answers in FOLLOW_UP.items():
            program_store.save_answers(s, user, patient_id, follow.id, instrument, answers, None, SYNTHETIC)
        program_store.complete_assessment(s, user, patient_id, follow.id, None, SYNTHETIC)
        step = max((st for st in view.plan.steps if st.start_date <= today), key=lambda st: st.start_date)
        doses = [float(a.dose) for a in step.administrations if a.regimen_index == 0]
        visit = {
            "date": today.isoformat(),
            "doses_taken": [{"regimen_index": 0, "doses": doses}],
            "cows": 7,
            "peg": 5.3,
            "phq9_item9": 0,
            "oud_signs": False,
            "preference": "continue",
            "note": f"{SYNTHETIC}: mild withdrawal, wants to go on",
        }
        adapted = plan_store.record_follow_up(s, user, patient_id, plan.id, visit, None, SYNTHETIC)
        assert adapted is not None
        patient = s.get(Patient, patient_id)
        assert patient is not None
        return DemoPatient(patient_id, label, adapted.id)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Add a synthetic patient in the program to a demo store.")
    parser.add_argument("--db", required=True)
    parser.add_argument("--org", required=True)
    parser.add_argument("--user", required=True)
    args = parser.parse_args(argv)
    try:
        made = seed(args.db, args.org, args.user)
    except TaperwiseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"patient {made.label} is in the program: /patients/{made.patient_id} (plan {made.plan_id})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
