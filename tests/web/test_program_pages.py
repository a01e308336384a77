"""The program in the app: assessments saved as you go, sticky safety alerts, the summary's recommended
modules, and module sign-off — on SQLite and PostgreSQL, through the pages a clinician uses."""

from __future__ import annotations

import re
from html import unescape

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from taperwise.store.models import AssessmentAnswer, AuditEvent, SafetyAlert
from taperwise.store.program import answer_history
from tests.web.conftest import csrf_of, patient_ids, sign_in

PHQ9_ZERO = {f"phq9_{n}": "0" for n in range(1, 10)}


def _start(client: TestClient, label: str = "S001", kind: str = "assessment") -> tuple[int, str]:
    number = patient_ids(client)[label]
    response = client.post(
        f"/patients/{number}/assessments",
        data={"kind": kind, "csrf_token": csrf_of(client)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert re.fullmatch(rf"/patients/{number}/assessments/\d+", location)
    return number, location


def _save(client: TestClient, page: str, instrument: str, answers: dict[str, str], **headers: str) -> object:
    data = {**answers, "csrf_token": csrf_of(client)}
    return client.post(f"{page}/instruments/{instrument}", data=data, headers=headers, follow_redirects=False)


def test_a_clinician_sees_the_program_actions_on_the_patient_page(signed_in: TestClient) -> None:
    number = patient_ids(signed_in)["S001"]
    html = signed_in.get(f"/patients/{number}").text
    assert "Start an assessment" in html
    assert "Record a follow-up" in html
    assert "No assessment yet" in html


def test_an_analyst_sees_no_program_actions_and_cannot_start_one(client: TestClient) -> None:
    sign_in(client, "ana.lyst")
    number = next(iter(patient_ids(client).values()))  # analysts see pseudonyms
    assert "Start an assessment" not in client.get(f"/patients/{number}").text
    response = client.post(
        f"/patients/{number}/assessments", data={"kind": "assessment", "csrf_token": csrf_of(client)}
    )
    assert response.status_code == 404


def test_the_assessment_page_has_every_assessment_instrument(signed_in: TestClient) -> None:
    _, page = _start(signed_in)
    html = signed_in.get(page).text
    for instrument in ("peg", "phq9", "gad7", "ort", "readiness", "bfq"):
        assert f'id="{instrument}"' in html
    assert 'id="cows"' not in html  # a follow-up instrument
    assert "Over the last 2 weeks, how often have you been bothered" in html


def test_a_follow_up_has_the_withdrawal_scales(signed_in: TestClient) -> None:
    _, page = _start(signed_in, kind="follow-up")
    html = signed_in.get(page).text
    assert 'id="cows"' in html
    assert 'id="sows"' in html
    assert 'id="bfq"' not in html


def test_saving_a_form_scores_it_and_keeps_every_earlier_value(signed_in: TestClient, app: FastAPI) -> None:
    _, page = _start(signed_in)
    response = _save(signed_in, page, "peg", {"peg_pain": "7", "peg_enjoyment": "8", "peg_activity": "6"})
    assert response.status_code == 303
    assert response.headers["location"].endswith("#peg")  # type: ignore[attr-defined]
    assert re.search(r"PEG score:</strong>\s*7\.0\b", signed_in.get(page).text)
    _save(signed_in, page, "peg", {"peg_pain": "5", "peg_enjoyment": "8", "peg_activity": "6"})
    assessment_id = int(page.rsplit("/", 1)[1])
    with app.state.store.session() as s:
        history = [(item, value) for item, value, _, _ in answer_history(s, assessment_id)]
    assert history == [("peg_pain", "7"), ("peg_enjoyment", "8"), ("peg_activity", "6"), ("peg_pain", "5")]


def test_an_htmx_save_returns_the_section_with_its_new_score(signed_in: TestClient) -> None:
    _, page = _start(signed_in)
    response = _save(signed_in, page, "gad7", {"gad7_1": "2", "gad7_2": "3"}, **{"HX-Request": "true"})
    assert response.status_code == 200  # type: ignore[attr-defined]
    body = response.text  # type: ignore[attr-defined]
    assert "<html" not in body
    assert 'id="gad7"' in body
    assert "unknown — not answered: gad7_3" in body


def test_a_refused_answer_saves_nothing_and_comes_back_filled_with_the_problem(
    signed_in: TestClient, app: FastAPI
) -> None:
    _, page = _start(signed_in)
    response = _save(signed_in, page, "peg", {"peg_pain": "11", "peg_enjoyment": "4", "peg_activity": "4"})
    assert response.status_code == 400  # type: ignore[attr-defined]
    body = response.text  # type: ignore[attr-defined]
    assert (
        "Not saved: <bdi>peg_pain: &#39;11&#39; is not one of the answers: a whole number from 0 to 10</bdi>"
        in body
    )
    assert 'name="peg_enjoyment" value="4" checked' in body
    assert "Entered: <bdi>11</bdi>" in body
    with app.state.store.session() as s:
        assert s.scalars(select(AssessmentAnswer)).all() == []


def test_phq9_item_9_raises_an_alert_that_a_changed_answer_does_not_end(
    signed_in: TestClient, app: FastAPI
) -> None:
    number, page = _start(signed_in)
    _save(signed_in, page, "phq9", {"phq9_9": "1"})
    patient_page = signed_in.get(f"/patients/{number}").text
    assert "Safety alerts — open" in patient_page
    assert "Thoughts of death or self-harm reported (PHQ-9 item 9)" in patient_page
    assert "988 Suicide &amp; Crisis Lifeline" in patient_page
    _save(signed_in, page, "phq9", PHQ9_ZERO)  # corrected to 0: the alert stays until someone closes it
    assert "Safety alerts — open" in signed_in.get(f"/patients/{number}").text
    with app.state.store.session() as s:
        (alert,) = s.scalars(select(SafetyAlert)).all()
    refused = signed_in.post(
        f"/patients/{number}/alerts/{alert.id}/resolve",
        data={"resolution": "  ", "csrf_token": csrf_of(signed_in)},
    )
    assert refused.status_code == 400
    assert "say what was done" in refused.text
    closed = signed_in.post(
        f"/patients/{number}/alerts/{alert.id}/resolve",
        follow_redirects=False,
        data={
            "resolution": "Asked directly: no plan or intent; crisis card given; GP told.",
            "csrf_token": csrf_of(signed_in),
        },
    )
    assert closed.status_code == 303
    assert "Safety alerts — open" not in signed_in.get(f"/patients/{number}").text
    with app.state.store.session() as s:
        resolved = s.get(SafetyAlert, alert.id)
        assert resolved is not None
        assert resolved.resolution is not None
        assert resolved.resolution.startswith("Asked directly")
        actions = [(e.action, e.entity_type) for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert ("create", "safety_alert") in actions
    assert ("update", "safety_alert") in actions


def test_resaving_the_form_does_not_raise_a_closed_alert_again(signed_in: TestClient, app: FastAPI) -> None:
    number, page = _start(signed_in)
    _save(signed_in, page, "phq9", {"phq9_9": "2"})
    with app.state.store.session() as s:
        (alert,) = s.scalars(select(SafetyAlert)).all()
    signed_in.post(
        f"/patients/{number}/alerts/{alert.id}/resolve",
        data={"resolution": "Assessed today.", "csrf_token": csrf_of(signed_in)},
    )
    _save(signed_in, page, "phq9", {"phq9_9": "2", "phq9_1": "1"})
    with app.state.store.session() as s:
        assert len(s.scalars(select(SafetyAlert)).all()) == 1


def test_the_summary_recommends_modules_with_their_reasons_and_lays_out_sessions(
    signed_in: TestClient,
) -> None:
    number, page = _start(signed_in)
    _save(signed_in, page, "bfq", {"bfq_pain_1": "4", "bfq_pain_2": "4", "bfq_pain_3": "1", "bfq_tried": "0"})
    done = signed_in.post(f"{page}/complete", data={"csrf_token": csrf_of(signed_in)}, follow_redirects=False)
    assert done.status_code == 303
    summary = signed_in.get(done.headers["location"]).text
    assert "Understanding persistent pain" in summary
    assert "expects reducing to make pain much worse" in summary
    assert "[pain-relief-explain]" in summary
    assert "rules could not be checked" in summary
    assert "Individualized Opioid Cessation program" in summary
    inspire = signed_in.get(done.headers["location"] + "?template=inspire-mi-cbt").text
    assert "Group 8: staying well" in inspire
    assert f"/patients/{number}/assessments/" in inspire


def test_another_organisations_clinician_cannot_open_the_assessment(
    signed_in: TestClient, app: FastAPI
) -> None:
    _, page = _start(signed_in)
    with TestClient(app, base_url="https://testserver") as other:
        sign_in(other, "dr.other")
        assert other.get(page).status_code == 404
        assert _save(other, page, "peg", {"peg_pain": "1"}).status_code == 404  # type: ignore[attr-defined]
    with app.state.store.session() as s:
        denied = s.scalars(select(AuditEvent).where(AuditEvent.action == "denied")).all()
    assert any("another organisation" in event.detail for event in denied)


def test_an_assessment_of_another_patient_is_not_found(signed_in: TestClient) -> None:
    _, page = _start(signed_in, "S001")
    other = patient_ids(signed_in)["S002"]
    assert signed_in.get(re.sub(r"/patients/\d+/", f"/patients/{other}/", page)).status_code == 404


def test_a_save_without_the_csrf_token_is_refused(signed_in: TestClient) -> None:
    _, page = _start(signed_in)
    response = signed_in.post(f"{page}/instruments/peg", data={"peg_pain": "3"})
    assert response.status_code == 403


def test_a_module_is_a_draft_until_a_clinician_signs_it_off(client: TestClient) -> None:
    sign_in(client, "ana.lyst")
    assert "draft" in client.get("/program/modules").text
    refused = client.post("/program/modules/withdrawal-flare/sign-off", data={"csrf_token": csrf_of(client)})
    assert refused.status_code == 403
    client.post("/logout", data={"csrf_token": csrf_of(client)})
    sign_in(client, "pharm.bell")
    page = client.get("/program/modules/withdrawal-flare").text
    assert "Your withdrawal and flare plan" in page
    assert "Sign off this version" in page
    signed = client.post(
        "/program/modules/withdrawal-flare/sign-off",
        follow_redirects=False,
        data={"note": "Checked against the VA tool", "csrf_token": csrf_of(client)},
    )
    assert signed.status_code == 303
    assert "Signed off by <bdi>Pharm Bell</bdi>" in client.get("/program/modules/withdrawal-flare").text
    assert "signed off by <bdi>Pharm Bell</bdi>" in client.get("/program/modules").text


def test_an_unknown_module_is_not_found(signed_in: TestClient) -> None:
    assert signed_in.get("/program/modules/yoga").status_code == 404


def test_the_clinician_chooses_the_program_and_a_recommended_module_left_out_needs_a_reason(
    signed_in: TestClient, app: FastAPI
) -> None:
    _, page = _start(signed_in)
    _save(signed_in, page, "bfq", {"bfq_pain_1": "4", "bfq_pain_2": "4", "bfq_pain_3": "0", "bfq_tried": "0"})
    core = ["harms-dependence", "withdrawal-flare", "shared-decision", "expectations"]
    data = {f"module_{m}": "on" for m in core} | {
        "template": "primary-care-5",
        "csrf_token": csrf_of(signed_in),
    }
    refused = signed_in.post(f"{page}/program", data=data)
    assert refused.status_code == 400
    assert "modules.understanding-pain: is recommended by the assessment; say why it is left out" in unescape(
        refused.text
    )
    assert (
        'name="module_expectations" aria-label="Offer What to expect from reducing; goals" checked'
        in refused.text
    )
    data |= {"reason_understanding-pain": "covered by the physiotherapist", "module_sleep-mood": "on"}
    saved = signed_in.post(f"{page}/program", data=data, follow_redirects=False)
    assert saved.status_code == 303
    summary = signed_in.get(f"{page}/summary").text
    assert "understanding-pain left out (<bdi>covered by the physiotherapist</bdi>)" in summary
    assert "sleep-mood added" in summary
    assert "Session plan: Five-session psychological intervention in primary care" in summary
    with app.state.store.session() as s:
        assert s.scalars(select(AuditEvent).where(AuditEvent.entity_type == "program_choice")).all()
