"""Authentication: no data without signing in, on every route; sessions that expire; lock-out shown."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from taperwise.store import open_store
from taperwise.store.models import AuditEvent, UserSession
from taperwise.store.security import MAX_FAILED_LOGINS, MAX_FAILED_PER_ADDRESS
from taperwise.store.sessions import (
    ABSOLUTE_TIMEOUT,
    IDLE_TIMEOUT,
    end_user_sessions,
    live_session,
    start_session,
    token_hash,
)
from taperwise.store.users import deactivate_user, get_user_by_name, is_locked
from taperwise.web.app import WebConfigError, create_app
from taperwise.web.auth import REFUSED, safe_next
from taperwise.web.sessions import COOKIE, SessionCodec, WebSession
from tests.web.conftest import PASSWORD, SECRET, csrf_of, patient_ids, sign_in

# Reachable without signing in, on purpose. Adding a route here is a decision to review.
PUBLIC = {
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("GET", "/healthz"),
    ("GET", "/cds-services"),  # CDS Hooks discovery: the services' descriptions, no patient data
}
# Called by EHRs, authenticated by the EHR's signed JWT instead of a session (web/cds.py).
EHR_ROUTES = ("/cds-services/",)


def app_routes(routes: list[Any]) -> Iterator[tuple[str, str]]:
    """(method, path) of every route, including those of included routers (FastAPI ≥ 0.16x nests them)."""
    for route in routes:
        if hasattr(route, "original_router"):
            yield from app_routes(route.original_router.routes)
        elif getattr(route, "methods", None):
            for method in sorted(route.methods - {"HEAD"}):
                yield method, route.path


def concrete(path: str) -> str:
    return path.replace("{patient_id}", "1").replace("{service_id}", "taperwise-patient-view")


def test_every_non_public_route_refuses_anonymous_access(app: FastAPI, client: TestClient):
    routes = set(app_routes(app.routes))
    protected = sorted(routes - PUBLIC)
    assert ("GET", "/worklist") in protected
    assert ("GET", "/api/patients/{patient_id}") in protected
    token = csrf_of(client)  # a valid token, so that only the missing sign-in can be the refusal
    for method, path in protected:
        response = client.request(
            method, concrete(path), headers={"X-CSRF-Token": token}, follow_redirects=False
        )
        if path.startswith(EHR_ROUTES):
            assert response.status_code == 401, (method, path)
            assert "refused" in response.json()["detail"], (method, path)
        elif path.startswith("/api/"):
            assert response.status_code == 401, (method, path)
            assert response.json()["detail"] == "Sign in first."
            assert response.headers["content-type"] == "application/problem+json"
        else:
            assert response.status_code == 303, (method, path)
            assert response.headers["location"].startswith("/login?next="), (method, path)
        assert "S00" not in response.text, (method, path)
        assert "MME" not in response.text, (method, path)


def test_the_public_routes_are_exactly_the_reviewed_ones(app: FastAPI):
    assert {route for route in app_routes(app.routes) if route in PUBLIC} == PUBLIC


def test_a_page_redirect_keeps_the_requested_path_for_after_sign_in(client: TestClient):
    response = client.get("/worklist?benzo=1", follow_redirects=False)
    assert response.headers["location"] == "/login?next=%2Fworklist%3Fbenzo%3D1"
    token = csrf_of(client)
    after = client.post("/login", data={"username": "dr.avery", "password": PASSWORD, "csrf_token": token,
                                        "next": "/worklist?benzo=1"}, follow_redirects=False)  # fmt: skip
    assert after.headers["location"] == "/worklist?benzo=1"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "", "x"])
def test_sign_in_never_redirects_off_site(target: str):
    assert safe_next(target) == "/worklist"


def test_the_session_cookie_is_httponly_samesite_lax_and_secure(client: TestClient):
    client.get("/login")
    token = csrf_of(client)
    response = client.post("/login", data={"username": "dr.avery", "password": PASSWORD, "csrf_token": token},
                           follow_redirects=False)  # fmt: skip
    header = response.headers["set-cookie"].lower()
    assert header.startswith(f"{COOKIE}=")
    assert "httponly" in header
    assert "samesite=lax" in header
    assert "secure" in header


def test_a_tampered_session_cookie_is_treated_as_signed_out(client: TestClient):
    sign_in(client, "dr.avery")
    value = client.cookies[COOKIE]
    client.cookies.clear()
    client.cookies.set(COOKIE, value)
    assert client.get("/api/worklist").status_code == 200  # the cookie as issued still works
    client.cookies.clear()
    client.cookies.set(COOKIE, value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB"))
    assert client.get("/api/worklist").status_code == 401


def test_the_cookie_holds_one_random_token_and_no_user_id():
    codec = SessionCodec(SECRET)
    session = WebSession()
    session.sign_in(7, "t" * 43, "c" * 43)
    loaded = codec.loads(codec.dumps(session))
    assert loaded == {"s": "t" * 43}
    assert codec.loads(codec.dumps(WebSession(csrf_token="c" * 43))) == {"c": "c" * 43}


def test_a_session_expires_after_the_idle_limit_and_after_the_absolute_limit(store_url: str):
    store = open_store(store_url)
    with store.session() as s:
        user = get_user_by_name(s, "dr.avery")
        assert user is not None
        idle, _ = start_session(s, user, "c" * 43, None, None)
        old, _ = start_session(s, user, "c" * 43, None, None)
    now = dt.datetime.now(dt.UTC)
    with store.session() as s:
        assert live_session(s, idle, now + IDLE_TIMEOUT - dt.timedelta(seconds=5)) is not None
    with store.session() as s:
        later = now + IDLE_TIMEOUT - dt.timedelta(seconds=5) + IDLE_TIMEOUT + dt.timedelta(seconds=5)
        assert live_session(s, idle, later) is None
    with store.session() as s:
        row = s.scalars(select(UserSession).where(UserSession.token_hash == token_hash(idle))).one()
        assert row.end_reason == "idle"
        for step in range(1, 30):  # in use every 29 minutes: the idle clock moves, the 12 hours do not
            moment = now + step * dt.timedelta(minutes=29)
            alive = live_session(s, old, moment)
            if moment - now >= ABSOLUTE_TIMEOUT:
                assert alive is None
                break
            assert alive is not None
    with store.session() as s:
        row = s.scalars(select(UserSession).where(UserSession.token_hash == token_hash(old))).one()
        assert row.end_reason == "expired"
    store.close()


def test_a_session_signed_with_another_key_is_refused():
    session = WebSession()
    session.sign_in(1, "t" * 43, "c" * 43)
    value = SessionCodec("another-key-" + "y" * 40).dumps(session)
    assert SessionCodec(SECRET).loads(value) is None


def test_a_cookie_replayed_after_sign_out_reads_nothing(client: TestClient):
    sign_in(client, "dr.avery")
    saved = client.cookies[COOKIE]
    assert client.get("/api/worklist").status_code == 200
    assert (
        client.post("/logout", data={"csrf_token": csrf_of(client)}, follow_redirects=False).status_code
        == 303
    )
    client.cookies.clear()
    client.cookies.set(COOKIE, saved)
    assert client.get("/api/worklist").status_code == 401
    assert client.get("/api/patients/1").status_code == 401


def test_sign_out_everywhere_and_deactivation_end_every_session(app: FastAPI, store_url: str):
    browsers = [TestClient(app, base_url="https://testserver") for _ in range(2)]
    for browser in browsers:
        sign_in(browser, "dr.avery")
        assert browser.get("/api/worklist").status_code == 200
    store = open_store(store_url)
    with store.session() as s:
        user = get_user_by_name(s, "dr.avery")
        assert user is not None
        assert end_user_sessions(s, user, "signed_out_everywhere", user) == 2
    assert [b.get("/api/worklist").status_code for b in browsers] == [401, 401]
    sign_in(browsers[0], "dr.avery")
    assert browsers[0].get("/api/worklist").status_code == 200
    with store.session() as s:
        deactivate_user(s, "dr.avery")
    assert browsers[0].get("/api/worklist").status_code == 401
    with store.session() as s:
        assert {row.end_reason for row in s.scalars(select(UserSession))} == {
            "signed_out_everywhere",
            "deactivated",
        }
    store.close()


def test_the_api_schema_needs_sign_in_and_there_are_no_cdn_pages(client: TestClient):
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert client.get(path, follow_redirects=False).status_code in (303, 401, 404), path
    assert client.get("/api/openapi.json").status_code == 401
    sign_in(client, "dr.avery")
    schema = client.get("/api/openapi.json").json()
    assert "/api/worklist" in schema["paths"]


def test_signing_out_ends_the_session(signed_in: TestClient):
    token = csrf_of(signed_in)
    assert signed_in.post("/logout", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    assert signed_in.get("/api/me").status_code == 401


def test_a_wrong_password_is_refused_with_a_message_and_audited(client: TestClient, store_url: str):
    token = csrf_of(client)
    response = client.post(
        "/login", data={"username": "dr.avery", "password": "wrong password!!", "csrf_token": token}
    )
    assert response.status_code == 401
    assert REFUSED in response.text
    with open_store(store_url).session() as s:
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.username == "dr.avery")).all()
    assert "login_failed" in actions


def test_a_locked_account_gets_the_message_an_unknown_one_gets(client: TestClient, store_url: str):
    """Repeated failures lock the account, but the page says no more than for a name that does not exist:
    which accounts exist, or are locked, is not disclosed."""
    token = csrf_of(client)
    for _ in range(MAX_FAILED_LOGINS):
        client.post(
            "/login", data={"username": "pharm.bell", "password": "not the password", "csrf_token": token}
        )
    locked = client.post("/login", data={"username": "pharm.bell", "password": PASSWORD, "csrf_token": token})
    unknown = client.post(
        "/login", data={"username": "nobody.here", "password": PASSWORD, "csrf_token": token}
    )
    assert locked.status_code == unknown.status_code == 401
    assert REFUSED in locked.text
    assert REFUSED in unknown.text
    assert "locked until" not in locked.text.lower()
    assert client.get("/api/me").status_code == 401
    with open_store(store_url).session() as s:
        user = get_user_by_name(s, "pharm.bell")
        assert user is not None
        assert is_locked(user)


def test_one_address_failing_across_accounts_is_throttled(client: TestClient, store_url: str):
    """ASVS V2.2.1: failures are limited per client address too — after MAX_FAILED_PER_ADDRESS from one
    address (spread over accounts, none locked), even the right password is refused from it."""
    token = csrf_of(client)
    for attempt in range(MAX_FAILED_PER_ADDRESS):
        client.post("/login", data={"username": f"guess{attempt % 7}", "password": "wrong-guess-x",
                                    "csrf_token": token})  # fmt: skip
    response = client.post("/login", data={"username": "dr.avery", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 401
    assert REFUSED in response.text
    with open_store(store_url).session() as s:
        details = s.scalars(select(AuditEvent.detail).where(AuditEvent.action == "login_failed")).all()
        user = get_user_by_name(s, "dr.avery")
        assert user is not None
        assert not is_locked(user)
    assert any("throttled" in detail for detail in details)


def test_a_deactivated_user_loses_access_at_once(signed_in: TestClient, store_url: str):
    from taperwise.store.models import User

    with open_store(store_url).session() as s:
        s.scalars(select(User).where(User.username == "dr.avery")).one().active = False
    assert signed_in.get("/api/me").status_code == 401


def test_the_app_refuses_to_start_without_a_secret_key_outside_dev_mode(store_url: str, monkeypatch):
    monkeypatch.delenv("TAPERWISE_SECRET_KEY", raising=False)
    monkeypatch.delenv("TAPERWISE_DEV", raising=False)
    with pytest.raises(WebConfigError, match="TAPERWISE_SECRET_KEY is not set"):
        create_app(store_url)
    with pytest.raises(WebConfigError, match="at least 32"):
        create_app(store_url, secret_key="short")
    with pytest.raises(WebConfigError, match="too predictable"):
        create_app(store_url, secret_key="a" * 40)
    with pytest.raises(WebConfigError, match="too predictable"):
        create_app(store_url, secret_key="abcd" * 12)
    monkeypatch.setenv("TAPERWISE_DEV", "1")
    assert create_app(store_url).state.dev_mode is True


def test_dev_mode_cookies_work_over_plain_http(store_url: str, monkeypatch):
    monkeypatch.setenv("TAPERWISE_DEV", "1")
    with TestClient(create_app(store_url)) as client:  # http://testserver
        client.get("/login")
        token = csrf_of(client)
        form = {"username": "dr.avery", "password": PASSWORD, "csrf_token": token}
        response = client.post("/login", data=form, follow_redirects=False)
        assert "secure" not in response.headers["set-cookie"].lower()
        assert "S001" in patient_ids(client)
