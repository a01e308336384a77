"""Monitoring (PDMP checks, urine drug tests, naloxone) with due dates, and the treatment agreement with a
time-limited trial and its stop rule — both followed by the worklist's reminders."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from tests.web.conftest import csrf_of, patient_ids
from tests.web.test_plan_pages import _make

TODAY = dt.date.today()


def _in_program(client: TestClient) -> int:
    number, page = _make(client, "S001")
    client.post(f"{page}/agree", data={"csrf_token": csrf_of(client)})
    return number


def _post(client: TestClient, number: int, what: str, **data: str) -> object:
    return client.post(
        f"/patients/{number}/{what}", data={**data, "csrf_token": csrf_of(client)}, follow_redirects=False
    )


def test_monitoring_never_recorded_is_due_now_and_a_record_moves_it_on(signed_in: TestClient) -> None:
    number = _in_program(signed_in)
    worklist = signed_in.get("/worklist").text
    assert "Monitoring due (3)" in worklist
    assert "Prescription monitoring check (PDMP / shared care record) (none recorded)" in worklist
    done = _post(
        signed_in, number, "monitoring", kind="pdmp_check", date=TODAY.isoformat(), result="one prescriber"
    )
    assert done.status_code == 303  # type: ignore[attr-defined]
    page = signed_in.get(f"/patients/{number}").text
    assert (TODAY + dt.timedelta(days=90)).isoformat() in page
    assert "Monitoring due (2)" in signed_in.get("/worklist").text


def test_a_monitoring_date_in_the_future_is_refused(signed_in: TestClient) -> None:
    number = _in_program(signed_in)
    tomorrow = (TODAY + dt.timedelta(days=1)).isoformat()
    refused = _post(signed_in, number, "monitoring", kind="urine_drug_test", date=tomorrow)
    assert refused.status_code == 400  # type: ignore[attr-defined]
    assert "date: is in the future" in refused.text  # type: ignore[attr-defined]
    assert f'name="date" value="{tomorrow}"' in refused.text  # type: ignore[attr-defined]


def test_a_trial_needs_its_stop_rule_and_its_end_is_a_reminder(signed_in: TestClient) -> None:
    number = _in_program(signed_in)
    base = {
        "goals": "Walk to the shops; sleep through",
        "agreed_on": (TODAY - dt.timedelta(days=60)).isoformat(),
        "trial_until": (TODAY + dt.timedelta(days=3)).isoformat(),
        "review_interval_days": "90",
    }
    refused = _post(signed_in, number, "agreement", **base)
    assert refused.status_code == 400  # type: ignore[attr-defined]
    assert "stop_rule: a time-limited trial needs its stop rule" in refused.text  # type: ignore[attr-defined]
    assert "Walk to the shops; sleep through</textarea>" in refused.text  # type: ignore[attr-defined]
    _post(signed_in, number, "agreement", **base, stop_rule="no better function at 3 months: taper")
    page = signed_in.get(f"/patients/{number}").text
    assert "stop rule: <bdi>no better function at 3 months: taper" in page
    assert "Trial period ends: decide by the stop rule" in signed_in.get("/worklist").text


def test_an_agreement_review_falls_due_after_its_interval(signed_in: TestClient) -> None:
    number = _in_program(signed_in)
    _post(
        signed_in,
        number,
        "agreement",
        goals="Fewer bad days",
        review_interval_days="28",
        agreed_on=(TODAY - dt.timedelta(days=30)).isoformat(),
    )
    worklist = signed_in.get("/worklist").text
    assert "Review the treatment agreement" in worklist
    other = patient_ids(signed_in)["S002"]
    refused = _post(
        signed_in, other, "agreement", goals="x", review_interval_days="3", agreed_on=TODAY.isoformat()
    )
    assert "review_interval_days: must be from 7 to 365 days" in refused.text  # type: ignore[attr-defined]
