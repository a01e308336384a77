"""The team's shared view: review status on the worklist (in review, in program, declined with a reason)
and the follow-ups due from the agreed plans themselves."""

from __future__ import annotations

import datetime as dt
import re

from fastapi.testclient import TestClient

from tests.web.conftest import csrf_of, patient_ids, sign_in
from tests.web.test_plan_pages import _make


def _tag(worklist: str, label: str) -> str | None:
    """The review status shown in the patient's worklist row (its flags cell)."""
    table = worklist[worklist.index('<table class="worklist"') :]
    row = re.search(rf"<bdi>{label}</bdi></a>(?:(?!</tr>).)*", table, re.S)
    match = re.search(r'<li class="tag review"[^>]*>([^<]+)</li>', row.group(0)) if row else None
    return match.group(1) if match else None


def test_work_on_a_patient_shows_on_the_worklist_as_in_review_then_in_program(signed_in: TestClient) -> None:
    assert _tag(signed_in.get("/worklist").text, "S002") == "not reviewed"
    number = patient_ids(signed_in)["S002"]
    signed_in.post(
        f"/patients/{number}/assessments", data={"kind": "assessment", "csrf_token": csrf_of(signed_in)}
    )
    assert _tag(signed_in.get("/worklist").text, "S002") == "in review"
    _, page = _make(signed_in, "S001")
    signed_in.post(f"{page}/agree", data={"csrf_token": csrf_of(signed_in)})
    assert _tag(signed_in.get("/worklist").text, "S001") == "in program"


def test_declining_needs_a_reason_and_shows_it(signed_in: TestClient) -> None:
    number = patient_ids(signed_in)["S003"]
    refused = signed_in.post(
        f"/patients/{number}/review-status",
        follow_redirects=False,
        data={"status": "declined", "reason": "", "csrf_token": csrf_of(signed_in)},
    )
    assert refused.status_code == 400
    assert "say why the patient or clinician declined" in refused.text
    signed_in.post(
        f"/patients/{number}/review-status",
        data={
            "status": "declined",
            "reason": "Prefers to stay at this dose for now",
            "csrf_token": csrf_of(signed_in),
        },
    )
    assert _tag(signed_in.get("/worklist").text, "S003") == "declined"
    assert (
        "declined</strong> — <bdi>Prefers to stay at this dose for now"
        in signed_in.get(f"/patients/{number}").text
    )


def test_a_follow_up_due_from_an_agreed_plan_is_on_the_worklist(
    signed_in: TestClient, client: TestClient
) -> None:
    start = (dt.date.today() - dt.timedelta(days=35)).isoformat()
    _, page = _make(signed_in, "S001", start_date=start)
    assert "Follow-ups due" not in signed_in.get("/worklist").text  # a draft plan reminds nobody
    signed_in.post(f"{page}/agree", data={"csrf_token": csrf_of(signed_in)})
    worklist = signed_in.get("/worklist").text
    assert "Follow-ups due (1)" in worklist
    assert f'href="{page}"' in worklist
    assert "overdue" in worklist  # the review 14 days after the start has passed


def test_an_analyst_sees_no_review_status_or_reminders(signed_in: TestClient, app: object) -> None:
    _, page = _make(signed_in, "S001")
    signed_in.post(f"{page}/agree", data={"csrf_token": csrf_of(signed_in)})
    with TestClient(app, base_url="https://testserver") as analyst:  # type: ignore[arg-type]
        sign_in(analyst, "ana.lyst")
        worklist = analyst.get("/worklist").text
    assert (
        "in program<" not in worklist
    )  # the team's status (its reasons are free text) is for clinical roles
    assert "not reviewed" not in worklist
    assert "Follow-ups due" not in worklist


def test_outcomes_show_the_composite_per_patient_and_for_the_clinic(signed_in: TestClient) -> None:
    number, page = _make(signed_in, "S001")
    signed_in.post(f"{page}/agree", data={"csrf_token": csrf_of(signed_in)})
    for pain in ("7", "4"):
        started = signed_in.post(
            f"/patients/{number}/assessments",
            follow_redirects=False,
            data={"kind": "follow-up", "csrf_token": csrf_of(signed_in)},
        )
        signed_in.post(
            f"{started.headers['location']}/instruments/peg",
            data={
                "peg_pain": pain,
                "peg_enjoyment": pain,
                "peg_activity": pain,
                "csrf_token": csrf_of(signed_in),
            },
        )
    patient = signed_in.get(f"/patients/{number}").text
    assert "Tapering success: <strong>" in patient
    assert 'id="peg-chart"' in patient
    assert "7.0" in patient
    assert "4.0" in patient
    clinic = signed_in.get("/program/outcomes").text
    assert "<dt>In the program</dt><dd>1</dd>" in clinic
    assert "7.0 → 4.0" in clinic


def test_the_patient_page_shows_the_program_timeline_in_order(signed_in: TestClient) -> None:
    number, page = _make(signed_in, "S001")
    signed_in.post(f"{page}/agree", data={"csrf_token": csrf_of(signed_in)})
    signed_in.post(
        f"/patients/{number}/assessments", data={"kind": "follow-up", "csrf_token": csrf_of(signed_in)}
    )
    html = signed_in.get(f"/patients/{number}").text
    events = re.findall(r'<span class="date">[^<]+</span> (?:<a href="[^"]+">)?<bdi>([^<]+)</bdi>', html)
    assert events[:3] == ["taper plan made (draft)", "taper plan agreed", "review status: in program"]
    assert "follow-up started" in events
