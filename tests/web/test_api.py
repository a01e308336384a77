"""The JSON API mirrors the pages, is documented in OpenAPI, and keeps doses exact."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.web.conftest import patient_ids


def test_the_api_worklist_matches_the_page_filters(signed_in: TestClient):
    body = signed_in.get("/api/worklist", params={"high_dose_90": True}).json()
    assert [item["label"] for item in body["items"]] == ["S001", "S005", "S008"]  # S008: dose unknown
    assert body["total"] == 3
    assert body["pages"] == 1
    assert body["items"][0]["avg_daily_mme_90d"] == "91.1667"  # Decimal as text, never a float


def test_the_api_patient_has_the_whole_picture(signed_in: TestClient):
    body = signed_in.get(f"/api/patients/{patient_ids(signed_in)['S001']}").json()
    assert body["as_of"] == "2025-03-31"
    # Every prescriber, the benzodiazepine's too, the most recent fill first.
    assert [group["key"] for group in body["by_prescriber"]] == ["DR-B", "DR-C", "DR-A"]
    assert [group["key"] for group in body["by_pharmacy"]] == ["PH-3", "PH-2", "PH-1"]
    assert {alert["code"] for alert in body["alerts"]} == {"naloxone", "benzodiazepine"}
    assert "cdc-2022-rec" in body["alerts"][0]["source"]
    assert body["segments"][0] == {
        "start_date": "2024-12-02", "end_date": "2024-12-31", "daily_mme": "90.0000", "n_opioids": 1,
        "overlapping_fills": 0,
    }  # fmt: skip
    assert body["harm_events"][0]["kind"] == "opioid_overdose"
    assert body["intake_checklist"] == []


def test_the_api_rejects_unusable_filters_with_a_message(signed_in: TestClient):
    assert signed_in.get("/api/worklist", params={"q": "x" * 101}).status_code == 422
    response = signed_in.get("/api/worklist", params={"q": "S\x01"})
    assert response.status_code == 422
    assert "control characters" in response.json()["detail"]


def test_openapi_documents_the_api_and_not_the_html_pages(signed_in: TestClient):
    paths = signed_in.get("/api/openapi.json").json()["paths"]
    assert {"/api/me", "/api/worklist", "/api/patients/{patient_id}", "/healthz"} <= set(paths)
    assert not {"/worklist", "/login", "/patients/{patient_id}"} & set(paths)


def test_healthz_reports_the_version_and_the_database(client: TestClient):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["status"] == "ok"
    assert body["database"]["revision"]
    assert body["version"]
