"""The inherited-patient intake: the checklist saved, the intake on the worklist until a decision is recorded,
and a decision not to take over the prescription only with a bridging plan and a referral."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from taperwise.store.models import AuditEvent, IntakeCheck
from tests.web.conftest import csrf_of, patient_ids, sign_in


def _post(client: TestClient, number: int, what: str, **data: str) -> object:
    return client.post(
        f"/patients/{number}/intake/{what}",
        data={**data, "csrf_token": csrf_of(client)},
        follow_redirects=False,
    )


def test_the_checklist_is_saved_and_the_intake_waits_on_the_worklist_for_a_decision(
    signed_in: TestClient, app: FastAPI
) -> None:
    number = patient_ids(signed_in)["S004"]
    page = signed_in.get(f"/patients/{number}").text
    assert "Urine drug test, with consent" in page
    assert 'name="done_pdmp-check"' in page
    saved = _post(
        signed_in, number, "checklist", **{"done_pdmp-check": "on", "note_pdmp-check": "2 prescribers"}
    )
    assert saved.status_code == 303  # type: ignore[attr-defined]
    page = signed_in.get(f"/patients/{number}").text
    assert 'name="done_pdmp-check" checked' in page
    assert 'value="2 prescribers"' in page
    worklist = signed_in.get("/worklist").text
    assert "Inherited patients waiting for a decision (1)" in worklist
    assert "1 of 5 checks done" in worklist
    _post(signed_in, number, "checklist", **{"done_pdmp-check": "on", "note_pdmp-check": "2 prescribers"})
    with app.state.store.session() as s:
        assert s.scalar(select(func.count()).select_from(IntakeCheck)) == 1  # nothing changed: no new row


def test_not_taking_over_needs_a_bridging_plan_and_a_referral(signed_in: TestClient, app: FastAPI) -> None:
    number = patient_ids(signed_in)["S004"]
    refused = _post(signed_in, number, "decision", decision="not_continue", referral="Pain clinic, 2 weeks")
    assert refused.status_code == 400  # type: ignore[attr-defined]
    page = refused.text  # type: ignore[attr-defined]
    assert "Not saved: <bdi>bridging_plan: write who prescribes what until when" in page
    assert 'name="referral" maxlength="4000" value="Pain clinic, 2 weeks"' in page  # nothing typed is lost
    assert 'value="not_continue" checked' in page
    decided = _post(
        signed_in,
        number,
        "decision",
        decision="not_continue",
        referral="Pain clinic, 2 weeks",
        bridging_plan="Co-codamol as now for 28 days from this practice, then the pain clinic",
    )
    assert decided.status_code == 303  # type: ignore[attr-defined]
    page = signed_in.get(f"/patients/{number}").text
    assert "Do not take over the prescription: bridge and refer" in page
    assert "Bridging plan: <bdi>Co-codamol as now for 28 days" in page
    assert "waiting for a decision" not in signed_in.get("/worklist").text
    with app.state.store.session() as s:
        details = [e.detail for e in s.scalars(select(AuditEvent).where(AuditEvent.entity_type == "intake"))]
    assert details == ["decided: not_continue"]


def test_a_referral_needs_the_referral_written(signed_in: TestClient) -> None:
    number = patient_ids(signed_in)["S004"]
    refused = _post(signed_in, number, "decision", decision="refer")
    assert refused.status_code == 400  # type: ignore[attr-defined]
    assert "needs the referral written" in refused.text  # type: ignore[attr-defined]
    assert "waiting for a decision" not in signed_in.get("/worklist").text  # a refused decision opens nothing


def test_an_analyst_sees_the_checklist_but_cannot_save_it(client: TestClient) -> None:
    sign_in(client, "ana.lyst")
    numbers = list(patient_ids(client).values())
    page = ""
    number = numbers[0]
    for number in numbers:
        page = client.get(f"/patients/{number}").text
        if "intake checklist" in page:
            break
    assert "Obtain prior records" in page
    assert "Save the checklist" not in page
    assert _post(client, number, "checklist", **{"done_pdmp-check": "on"}).status_code == 404  # type: ignore[attr-defined]
