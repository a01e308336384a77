"""`python -m taperwise.demo`: a synthetic patient in the program for `make demo` — and never twice."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from taperwise.demo import DemoError, main, seed
from taperwise.store import open_store
from taperwise.store.models import Assessment, AuditEvent, TaperPlanRecord


def test_the_demo_patient_has_an_assessment_an_agreed_plan_and_a_follow_up(store_url: str) -> None:
    made = seed(store_url, "ORG-A", "dr.avery")
    store = open_store(store_url)
    try:
        with store.session() as s:
            plans = list(
                s.scalars(select(TaperPlanRecord).where(TaperPlanRecord.patient_id == made.patient_id))
            )
            kinds = sorted(a.kind for a in s.scalars(select(Assessment)) if a.status == "completed")
            program = AuditEvent.entity_type.in_(("assessment", "taper_plan", "plan_acknowledgement"))
            details = [e.user_agent for e in s.scalars(select(AuditEvent).where(program))]
    finally:
        store.close()
    assert [p.status for p in plans] == ["superseded", "agreed"]
    history = json.loads(plans[1].plan_json)["history"]
    assert [entry["decision"] for entry in history] == ["continue"]
    assert kinds == ["assessment", "follow-up"]
    assert details
    assert all(agent == "synthetic demo" for agent in details)


def test_the_demo_refuses_an_organisation_that_has_program_records(store_url: str) -> None:
    seed(store_url, "ORG-A", "dr.avery")
    with pytest.raises(DemoError, match="already has program records"):
        seed(store_url, "ORG-A", "dr.avery")


def test_the_demo_needs_a_clinical_user(store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", store_url, "--org", "ORG-A", "--user", "ana.lyst"]) == 2
    assert "is not a clinician, pharmacist or psychologist" in capsys.readouterr().err
