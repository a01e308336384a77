"""Plans in the app: reconciliation from the registry's supply (the product as prescribed, no dose guessed),
the engine's plan with its staircase, requires_review warnings acknowledged with a reason before agreement,
one agreed plan at a time, and the calendar and letter printed from it — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from taperwise.store.models import AuditEvent, Patient, TaperPlanRecord
from tests.web.conftest import ROOT, csrf_of, patient_ids, sign_in

OXY_ER = "12 HR Oxycodone Hydrochloride 30 MG Extended Release Oral Tablet"


def _form(client: TestClient, **changes: str) -> dict[str, str]:
    data = {
        "csrf_token": csrf_of(client),
        "drug_0": OXY_ER,
        "include_0": "on",
        "dose_0": "30",
        "times_0": "2",
        "start_date": dt.date.today().isoformat(),
        "opioid_use_days": "400",
        "goal": "discontinue",
        "pace_reduction": "10",
        "pace_unit": "percent_of_original",
        "pace_every_days": "28",
        "market": "US",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value != ""}


def _make(client: TestClient, label: str = "S001", **changes: str) -> tuple[int, str]:
    number = patient_ids(client)[label]
    response = client.post(f"/patients/{number}/plans", data=_form(client, **changes), follow_redirects=False)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert re.fullmatch(rf"/patients/{number}/plans/\d+", location)
    return number, location


def test_reconciliation_starts_from_the_product_as_prescribed_and_guesses_no_dose(
    signed_in: TestClient,
) -> None:
    number = patient_ids(signed_in)["S001"]
    html = signed_in.get(f"/patients/{number}/plans/new").text
    assert f'value="{OXY_ER}"' in html
    assert "Alprazolam" not in html  # a benzodiazepine is not part of the opioid regimen …
    assert 'name="benzodiazepine" checked' in html  # … but its overlap is ticked as a factor
    assert 'name="dose_0" aria-label="Dose each time, line 1" value=""' in html
    assert "60 units for 30 days" in html


def test_a_request_the_engine_refuses_comes_back_as_entered_with_the_field_named(
    signed_in: TestClient,
) -> None:
    number = patient_ids(signed_in)["S001"]
    response = signed_in.post(f"/patients/{number}/plans", data=_form(signed_in, dose_0="31"))
    assert response.status_code == 400
    assert "Not planned: <bdi>regimen[0].dose" in response.text
    assert 'value="31"' in response.text
    missing = signed_in.post(f"/patients/{number}/plans", data=_form(signed_in, pace_reduction="ten"))
    assert missing.status_code == 400
    assert "pace.reduction: &#39;ten&#39; is not a number" in missing.text


def test_a_plan_shows_its_staircase_steps_warnings_and_follow_ups(signed_in: TestClient) -> None:
    _, page = _make(signed_in)
    html = signed_in.get(page).text
    assert '<svg class="trajectory"' in html or 'id="staircase' in html
    assert "draft" in html
    assert "Follow-up dates" in html
    assert "30 × 12 HR Oxycodone" not in html  # units are the engine's product names, not the input text
    assert "oxycodone 30 mg ER tablet" in html.lower() or "oxycodone" in html


def test_a_plan_needing_review_is_agreed_only_after_each_warning_has_a_reason(
    signed_in: TestClient, app: FastAPI
) -> None:
    number, page = _make(signed_in, suspected_oud="on")
    html = signed_in.get(page).text
    assert "requires review: suspected oud" in html
    assert "disabled" in html
    refused = signed_in.post(f"{page}/agree", data={"csrf_token": csrf_of(signed_in)})
    assert refused.status_code == 400
    assert (
        "cannot be agreed until each warning that requires review has a reason: suspected_oud" in refused.text
    )
    empty = signed_in.post(
        f"{page}/acknowledge",
        data={"warning": "suspected_oud", "reason": " ", "csrf_token": csrf_of(signed_in)},
    )
    assert empty.status_code == 400
    codes = re.findall(r'name="warning" value="([a-z_]+)"', html)
    assert "suspected_oud" in codes
    for code in codes:
        ok = signed_in.post(
            f"{page}/acknowledge",
            follow_redirects=False,
            data={
                "warning": code,
                "reason": "Assessed: criteria not met; patient prefers a slow taper.",
                "csrf_token": csrf_of(signed_in),
            },
        )
        assert ok.status_code == 303
    agreed = signed_in.post(f"{page}/agree", data={"csrf_token": csrf_of(signed_in)}, follow_redirects=False)
    assert agreed.status_code == 303
    after = signed_in.get(page).text
    assert "agreed" in after
    assert "Acknowledged</strong> by <bdi>Dr Avery</bdi>" in after
    with app.state.store.session() as s:
        patient = s.get(Patient, number)
        assert patient is not None
        assert patient.in_program


def test_agreeing_a_new_plan_supersedes_the_old_one_and_keeps_it(signed_in: TestClient, app: FastAPI) -> None:
    _, first = _make(signed_in)
    signed_in.post(f"{first}/agree", data={"csrf_token": csrf_of(signed_in)})
    _, second = _make(signed_in, pace_reduction="5")
    signed_in.post(f"{second}/agree", data={"csrf_token": csrf_of(signed_in)})
    with app.state.store.session() as s:
        statuses = [row.status for row in s.scalars(select(TaperPlanRecord).order_by(TaperPlanRecord.id))]
    assert statuses == ["superseded", "agreed"]


def test_the_calendar_and_letter_print_from_the_plan_and_the_print_is_audited(
    signed_in: TestClient, app: FastAPI
) -> None:
    _, page = _make(signed_in)
    for document in ("calendar", "letter"):
        response = signed_in.get(f"{page}/{document}.pdf")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/pdf"
        assert response.content.startswith(b"%PDF-")
    assert signed_in.get(f"{page}/recipe.pdf").status_code == 404
    with app.state.store.session() as s:
        query = select(AuditEvent).where(
            AuditEvent.action == "export", AuditEvent.entity_type == "taper_plan"
        )
        exports = s.scalars(query).all()
    assert len(exports) == 2


def test_an_analyst_cannot_open_plan_pages(signed_in: TestClient, app: FastAPI) -> None:
    number, page = _make(signed_in)
    with TestClient(app, base_url="https://testserver") as analyst:
        sign_in(analyst, "ana.lyst")
        assert analyst.get(page).status_code == 404
        assert analyst.get(f"/patients/{number}/plans/new").status_code == 404
        assert analyst.get(f"{page}/calendar.pdf").status_code == 404


def test_the_patient_page_lists_the_plans(signed_in: TestClient) -> None:
    number, page = _make(signed_in)
    html = signed_in.get(f"/patients/{number}").text
    assert "Plan a taper" in html
    assert f'href="{page}"' in html


def _agreed(client: TestClient) -> tuple[int, str]:
    # Started five weeks ago: today's visit falls in step 2, as a follow-up usually does.
    number, page = _make(client, start_date=(dt.date.today() - dt.timedelta(days=35)).isoformat())
    assert (
        client.post(f"{page}/agree", data={"csrf_token": csrf_of(client)}, follow_redirects=False).status_code
        == 303
    )
    return number, page


def _follow_up(client: TestClient, page: str, **changes: str) -> object:
    """Post the follow-up form as the app fills it in (doses of the step in force), with `changes`."""
    form = client.get(f"{page}/follow-up").text
    data = dict(re.findall(r'name="(taken_\d+_\d+)"[^>]*value="([^"]*)"', form))
    data.update(
        {
            "csrf_token": csrf_of(client),
            "date": dt.date.today().isoformat(),
            "peg": "6",
            "phq9_item9": "0",
            "preference": "continue",
        }
    )
    data.update(changes)
    return client.post(
        f"{page}/follow-up", data={k: v for k, v in data.items() if v != ""}, follow_redirects=False
    )


def test_a_follow_up_with_moderate_withdrawal_pauses_the_plan_and_says_why(
    signed_in: TestClient, app: FastAPI
) -> None:
    _, page = _agreed(signed_in)
    form = signed_in.get(f"{page}/follow-up").text
    assert 'name="taken_0_0"' in form
    response = _follow_up(signed_in, page, cows="14")
    assert response.status_code == 303  # type: ignore[attr-defined]
    adapted = response.headers["location"]  # type: ignore[attr-defined]
    assert adapted != page
    html = signed_in.get(adapted).text
    assert "<strong>pause</strong>" in html
    assert "moderate withdrawal (COWS 13 to 24)" in html
    with app.state.store.session() as s:
        rows = list(s.scalars(select(TaperPlanRecord).order_by(TaperPlanRecord.id)))
    assert [row.status for row in rows] == ["superseded", "agreed"]
    assert rows[1].previous_plan_id == rows[0].id
    before = json.loads(rows[0].plan_json)["steps"]
    after = json.loads(rows[1].plan_json)["steps"]
    assert after[2]["start_date"] > before[2]["start_date"]  # the next step waits: the calendar changes


def test_a_follow_up_the_engine_refuses_comes_back_as_entered(signed_in: TestClient) -> None:
    _, page = _agreed(signed_in)
    response = _follow_up(signed_in, page, cows="99")
    assert response.status_code == 400  # type: ignore[attr-defined]
    body = response.text  # type: ignore[attr-defined]
    assert "Not recorded: <bdi>follow_up.cows" in body
    assert 'name="cows" value="99"' in body


def test_a_draft_plan_cannot_take_a_follow_up(signed_in: TestClient) -> None:
    _, page = _make(signed_in)
    response = _follow_up(signed_in, page)
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "a follow-up adapts the agreed plan" in response.text  # type: ignore[attr-defined]


def test_the_follow_up_form_starts_from_the_latest_follow_up_scores(signed_in: TestClient) -> None:
    number, page = _agreed(signed_in)
    started = signed_in.post(
        f"/patients/{number}/assessments",
        data={"kind": "follow-up", "csrf_token": csrf_of(signed_in)},
        follow_redirects=False,
    )
    assessment = started.headers["location"]
    cows = {
        "cows_pulse": "1",
        "cows_sweating": "1",
        "cows_restlessness": "1",
        "cows_pupils": "1",
        "cows_aches": "2",
        "cows_nose_eyes": "1",
        "cows_gut": "2",
        "cows_tremor": "1",
        "cows_yawning": "1",
        "cows_anxiety": "2",
        "cows_gooseflesh": "0",
    }
    signed_in.post(f"{assessment}/instruments/cows", data={**cows, "csrf_token": csrf_of(signed_in)})
    form = signed_in.get(f"{page}/follow-up").text
    assert 'name="cows" value="13"' in form


def test_the_plan_shows_the_teams_key_messages_and_prints_a_handover_note(
    signed_in: TestClient, app: FastAPI
) -> None:
    _, page = _agreed(signed_in)
    html = signed_in.get(page).text
    assert "Key messages for the whole team" in html
    assert "never stopped suddenly" in html
    note = signed_in.get(f"{page}/handover.pdf", params={"to": "Pain clinic", "reason": "Slow progress"})
    assert note.status_code == 200
    assert note.content.startswith(b"%PDF-")
    with app.state.store.session() as s:
        query = select(AuditEvent).where(
            AuditEvent.action == "export", AuditEvent.entity_type == "taper_plan"
        )
        assert len(s.scalars(query).all()) == 1


def test_the_handover_note_holds_the_reason_the_plan_and_what_the_team_knows(signed_in: TestClient) -> None:
    from taperwise.reports.documents import Contact, handover_html
    from taperwise.store.plans import PlanView  # noqa: F401 - the view the page builds the note from
    from taperwise.taper import plan_taper

    request = json.loads((ROOT / "examples" / "taper-request.json").read_text(encoding="utf-8"))
    html = handover_html(
        plan_taper(request),
        Contact(patient="S001", recipient="Pain clinic"),
        "Slow progress <b>",
        {"intake": "Refer", "agreement": "walk daily", "monitoring": ["PDMP check: last none"], "alerts": ""},
    )
    assert "To: Pain clinic" in html
    assert "Slow progress &lt;b&gt;" in html
    assert "Intake decision: Refer" in html
    assert "PDMP check: last none" in html
    assert "never stopped suddenly" in html


def test_every_regimen_line_of_the_form_reaches_the_request_none_dropped() -> None:
    from taperwise.web.plan_pages import MAX_REGIMEN_LINES, request_from_form

    form = {
        "start_date": "2025-01-06",
        "pace_reduction": "10",
        "pace_unit": "percent_of_original",
        "pace_every_days": "28",
    }
    for n in range(9):
        form |= {
            f"drug_{n}": f"Morphine {n + 1}0mg tablets",
            f"include_{n}": "on",
            f"dose_{n}": "10",
            f"times_{n}": "2",
        }
    assert len(request_from_form(form)["regimen"]) == 9
    too_many = form | {f"drug_{n}": "x" for n in range(MAX_REGIMEN_LINES + 1)}
    with pytest.raises(Exception, match=f"more than {MAX_REGIMEN_LINES} medicines"):
        request_from_form(too_many)


def test_a_handover_text_too_long_is_refused_not_cut(signed_in: TestClient) -> None:
    _, page = _agreed(signed_in)
    response = signed_in.get(f"{page}/handover.pdf", params={"reason": "x" * 4001})
    assert response.status_code == 400
    assert "reason: is longer than 4000 characters" in response.text


def test_an_agreed_plan_exports_as_a_valid_fhir_bundle_and_the_export_is_audited(
    signed_in: TestClient, app: FastAPI
) -> None:
    from fhir.resources.R4B.bundle import Bundle

    number, page = _agreed(signed_in)
    plan_id = page.rsplit("/", 1)[1]
    response = signed_in.get(f"/api/patients/{number}/plans/{plan_id}/fhir")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle = response.json()
    Bundle.model_validate(bundle)
    care_plan = bundle["entry"][0]["resource"]
    assert care_plan["status"] == "active"
    assert care_plan["subject"] == {"reference": "Patient/S001"}
    products = {e["resource"]["medicationCodeableConcept"]["text"] for e in bundle["entry"][1:]}
    assert products == {"oxycodone 30 mg ER tablet"} or all("oxycodone" in p.lower() for p in products)
    with app.state.store.session() as s:
        exports = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "export", AuditEvent.entity_type == "taper_plan")
        ).all()
        assert [event.entity_id for event in exports] == [plan_id]
    assert signed_in.get(f"/api/patients/{number}/plans/999999/fhir").status_code == 404
    analyst = TestClient(app, base_url="https://testserver")
    sign_in(analyst, "ana.lyst")  # de-identified role: no identifiable export, not even its existence
    refused = analyst.get(f"/api/patients/{number}/plans/{plan_id}/fhir")
    assert refused.status_code == 404
    assert "S001" not in refused.text
