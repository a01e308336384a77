"""The worklist and patient pages over the real registry of examples/prescriptions.csv."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from taperwise.store import open_store
from taperwise.store.models import AuditEvent
from tests.web.conftest import csrf_of, patient_ids, sign_in


def labels(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/patients/\d+">([^<]+)</a>', html)


# Priority rank (knowledge/data/registry/priority.csv), then average MME highest first. S008's only
# oxycodone in the 90 days has a negative quantity: its dose is unknown, never low, so it ranks as if
# at 90 MME/day (rank 3, after S005 by the lower-bound average), before the rank-10 patients.
WORKLIST_ORDER = ["S001", "S005", "S008", "S003", "S002", "S004", "S009", "S006", "S007"]


def test_the_worklist_is_in_priority_order_then_highest_mme(signed_in: TestClient):
    assert labels(signed_in.get("/worklist").text) == WORKLIST_ORDER


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("high_dose_90=1", ["S001", "S005", "S008"]),  # S008: unknown, so included
        ("benzo=1", ["S001", "S003"]),
        ("new_prescriber=1", ["S004"]),
        ("multi_provider=1", []),
        ("high_dose_90=1&benzo=1", ["S001"]),
        ("q=S00", WORKLIST_ORDER),
        ("q=S004", ["S004"]),
    ],
)
def test_worklist_filters_narrow_the_list(signed_in: TestClient, query: str, expected: list[str]):
    response = signed_in.get(f"/worklist?{query}")
    assert response.status_code == 200
    assert labels(response.text) == expected


def test_the_worklist_shows_the_priority_reason_and_flags(signed_in: TestClient):
    html = signed_in.get("/worklist?q=S001").text
    assert "average &gt;= 90 MME/day with benzodiazepine overlap" in html
    assert "Benzo overlap 30 d" in html
    assert "≥ 90 MME" in html


def test_an_htmx_filter_change_gets_only_the_results_fragment(signed_in: TestClient):
    response = signed_in.get("/worklist?benzo=1", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "<html" not in response.text
    assert "<form" not in response.text
    assert labels(response.text) == ["S001", "S003"]


def test_a_page_beyond_the_last_says_no_patients_match(signed_in: TestClient):
    assert "No patients match" in signed_in.get("/worklist?page=2").text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("q=" + "S" * 101, "Search text is too long"),
        ("q=S0%00", "control characters"),
        ("page=-1", "Page must be a whole number"),
        ("page=abc", "Page must be a whole number"),
    ],
)
def test_unusable_filters_get_a_clear_message(signed_in: TestClient, query: str, message: str):
    response = signed_in.get(f"/worklist?{query}")
    assert response.status_code == 400
    assert message in response.text


def test_hostile_search_text_is_shown_as_text_never_as_markup(signed_in: TestClient):
    response = signed_in.get("/worklist", params={"q": '<script>alert("x")</script>'})
    assert response.status_code == 200
    assert '<script>alert("x")</script>' not in response.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in response.text


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("dr.avery\x00", "whatever password", "characters that are not allowed"),
        ("u" * 5000, "whatever password", "too long"),
        ("dr.avery", "p" * 5000, "too long"),
        ("", "", "Enter your username and password"),
    ],
)
def test_hostile_sign_in_fields_are_refused_with_a_message(client: TestClient, username, password, message):
    token = csrf_of(client)
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    assert response.status_code == 400
    assert message in response.text


def test_a_hostile_username_is_echoed_escaped(client: TestClient):
    token = csrf_of(client)
    hostile = '"><img src=x onerror=alert(1)>'
    response = client.post("/login", data={"username": hostile, "password": "x" * 12, "csrf_token": token})
    assert response.status_code == 401
    assert "<img src=x" not in response.text
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in response.text


def test_the_patient_page_shows_the_picture(signed_in: TestClient):
    ids = patient_ids(signed_in)
    html = signed_in.get(f"/patients/{ids['S001']}").text
    assert '<svg class="trajectory"' in html
    assert all(f"Prescriber {p}" in html for p in ("DR-A", "DR-B", "DR-C"))
    assert "Offer naloxone" in html
    assert "Opioid with a benzodiazepine" in html
    assert "opioid overdose on 2025-03-10" in html  # the harm event on the chart
    assert "intake checklist" not in html  # same prescriber family: no inherited-patient checklist


def test_a_low_dose_patient_without_benzodiazepines_gets_no_naloxone_alert(signed_in: TestClient):
    html = signed_in.get(f"/patients/{patient_ids(signed_in)['S004']}").text
    assert "Offer naloxone" not in html
    assert "Inherited patient: intake checklist" in html  # S004's latest fill is from a new prescriber


def test_every_patient_view_is_in_the_audit_log(signed_in: TestClient, store_url: str):
    ids = patient_ids(signed_in)
    signed_in.get(f"/patients/{ids['S002']}")
    signed_in.get(f"/api/patients/{ids['S003']}")
    with open_store(store_url).session() as s:
        viewed = s.scalars(
            select(AuditEvent.entity_id).where(AuditEvent.action == "view", AuditEvent.username == "dr.avery")
        ).all()
    assert str(ids["S002"]) in viewed
    assert str(ids["S003"]) in viewed


def test_security_headers_forbid_inline_script_framing_and_referrers(signed_in: TestClient):
    headers = signed_in.get("/worklist").headers
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"


def test_no_page_has_inline_scripts_or_styles(signed_in: TestClient):
    ids = patient_ids(signed_in)
    for path in ("/worklist", f"/patients/{ids['S001']}", f"/patients/{ids['S004']}"):
        html = signed_in.get(path).text
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == [], path
        assert " style=" not in html, path
        assert "<style" not in html, path
        assert re.search(r"\son[a-z]+=", html) is None, path


def test_the_vendored_htmx_is_served_with_its_licence_and_no_cdn_is_used(signed_in: TestClient):
    script = signed_in.get("/static/htmx.min.js")
    assert script.status_code == 200
    assert script.text.startswith("/*! htmx 2.")
    assert "Zero-Clause BSD" in script.text[:300]
    assert "https://" not in signed_in.get("/worklist").text.split("<body")[0].replace("https://htmx.org", "")


def test_an_analyst_sees_pseudonyms_only(client: TestClient):
    sign_in(client, "ana.lyst")
    html = client.get("/worklist").text
    shown = labels(html)
    assert len(shown) == 9
    assert all(label.startswith("P-") for label in shown)
    assert "S00" not in html
    patient = client.get(f"/patients/{patient_ids(client)[shown[0]]}").text
    assert "S00" not in patient
    assert "De-identified" in patient
