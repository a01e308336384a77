"""Every error in the form its reader expects (issue 11 item 7): a page for the pages, problem JSON for the
API; a patient number that cannot be one is a 404 audited as `denied`; an unexpected error is a 500 that
names the request and nothing from the exception."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from taperwise.store import open_store
from taperwise.store.models import AuditEvent
from taperwise.store.worklist import MAX_PATIENT_NUMBER, patient_number
from taperwise.web import logs
from tests.web.conftest import csrf_of, patient_ids

PROBLEM = "application/problem+json"
NOT_NUMBERS = [
    "9223372036854775808",  # above int64
    str(MAX_PATIENT_NUMBER + 1),  # above the store's 32-bit key
    "0",
    "-1",
    "abc",
    "1e3",
    "١٢",  # Arabic-Indic digits: isdigit() says yes, the address is still not a patient number
    "1" * 5000,
]


@pytest.mark.parametrize("raw", NOT_NUMBERS, ids=range(len(NOT_NUMBERS)))
def test_a_number_that_cannot_be_a_patient_is_a_404_page_and_problem_audited_as_denied(
    signed_in: TestClient, store_url: str, raw: str
) -> None:
    page = signed_in.get(f"/patients/{raw}")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Patient not found" in page.text
    api = signed_in.get(f"/api/patients/{raw}")
    assert api.status_code == 404
    assert api.headers["content-type"] == PROBLEM
    assert api.json()["status"] == 404
    assert api.json()["title"] == "Not Found"
    with open_store(store_url).session() as s:
        denied = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "denied", AuditEvent.entity_type == "patient")
        ).all()
    assert len(denied) == 2
    assert {event.detail for event in denied} == {"not a patient number"}
    assert all(event.username == "dr.avery" and len(event.entity_id or "") <= 128 for event in denied)


def test_the_largest_patient_number_is_looked_up_not_refused() -> None:
    assert patient_number(str(MAX_PATIENT_NUMBER)) == MAX_PATIENT_NUMBER
    assert patient_number("0042") == 42
    assert patient_number(" 42") is None


def test_an_unknown_address_is_a_page_for_people_and_a_problem_for_the_api(signed_in: TestClient) -> None:
    page = signed_in.get("/no/such/page")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Page not found" in page.text
    assert "Back to the worklist" in page.text
    api = signed_in.get("/api/no-such-thing")
    assert api.status_code == 404
    assert api.headers["content-type"] == PROBLEM
    assert api.json() == {"type": "about:blank", "title": "Not Found", "status": 404,
                          "detail": "There is no page at this address."}  # fmt: skip


def test_a_method_a_route_does_not_take_is_a_405_in_the_same_forms(signed_in: TestClient) -> None:
    token = {"X-CSRF-Token": csrf_of(signed_in)}  # so that the method, not the CSRF check, is refused
    page = signed_in.put("/worklist", headers=token)
    assert page.status_code == 405
    assert "Not allowed here" in page.text
    api = signed_in.put("/api/worklist", headers=token)
    assert api.status_code == 405
    assert api.headers["content-type"] == PROBLEM


def test_a_value_of_the_wrong_type_is_named_without_echoing_it(signed_in: TestClient) -> None:
    hostile = "<script>" + "x" * 3000
    api = signed_in.get("/api/worklist", params={"page": hostile})
    assert api.status_code == 422
    assert api.headers["content-type"] == PROBLEM
    body = api.json()
    assert [e["field"] for e in body["errors"]] == ["page"]
    assert "xxx" not in api.text
    assert "<script>" not in api.text


def test_sign_in_first_is_a_problem_for_the_api(client: TestClient) -> None:
    response = client.get("/api/worklist")
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["detail"] == "Sign in first."


def test_an_unexpected_error_is_a_500_naming_the_request_and_nothing_it_held(
    signed_in: TestClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = patient_ids(signed_in)["S001"]

    def broken(*args: object) -> None:
        raise RuntimeError("duplicate key (external_id)=(S001) in patients")  # as a database error quotes

    monkeypatch.setattr("taperwise.web.pages.patient_view", broken)
    monkeypatch.setattr("taperwise.web.api.patient_view", broken)
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append  # type: ignore[method-assign]
    logging.getLogger(logs.LOGGER).addHandler(handler)
    try:
        page = signed_in.get(f"/patients/{number}")
        api = signed_in.get(f"/api/patients/{number}")
    finally:
        logging.getLogger(logs.LOGGER).removeHandler(handler)
    assert page.status_code == 500
    assert api.status_code == 500
    assert page.headers["content-type"].startswith("text/html")
    assert api.headers["content-type"] == PROBLEM
    for response in (page, api):
        assert "S001" not in response.text
        assert "duplicate key" not in response.text
        assert response.headers["X-Request-ID"] in response.text
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["Cache-Control"] == "no-store"
    failures = [r for r in seen if r.getMessage() == "request failed"]
    assert [getattr(r, "error", None) for r in failures] == ["RuntimeError", "RuntimeError"]
    assert all("test_errors.py" in getattr(r, "where", "") for r in failures)
    assert not any("S001" in str(vars(r)) for r in seen)
