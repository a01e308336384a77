"""Organisation isolation through the HTTP layer: same registry in two organisations, no crossing."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from taperwise.store import open_store
from taperwise.store.models import AuditEvent
from tests.web.conftest import patient_ids, sign_in


def test_a_clinician_never_sees_another_organisations_patients(client: TestClient, app):
    sign_in(client, "dr.avery")
    mine = patient_ids(client)
    with TestClient(app, base_url="https://testserver") as other:
        sign_in(other, "dr.other")
        theirs = patient_ids(other)
        assert set(mine) == set(theirs)  # the same registry, published for both organisations
        assert set(mine.values()).isdisjoint(theirs.values())  # but as different patients
        for number in mine.values():
            page = other.get(f"/patients/{number}")
            assert page.status_code == 404
            assert "Patient not found" in page.text
            assert "S00" not in page.text.split("<main")[1]
            api = other.get(f"/api/patients/{number}")
            assert api.status_code == 404
            assert "S00" not in api.text


def test_a_refused_view_is_audited_as_denied(client: TestClient, app, store_url: str):
    sign_in(client, "dr.avery")
    target = patient_ids(client)["S001"]
    with TestClient(app, base_url="https://testserver") as other:
        sign_in(other, "dr.other")
        other.get(f"/patients/{target}")
    with open_store(store_url).session() as s:
        denied = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "denied", AuditEvent.username == "dr.other")
        ).all()
    assert [event.entity_id for event in denied] == [str(target)]


def test_a_patient_number_that_does_not_exist_looks_the_same_as_a_forbidden_one(client: TestClient):
    sign_in(client, "dr.other")
    missing = client.get("/patients/999999")
    assert missing.status_code == 404
    assert "Patient not found" in missing.text
