"""Authentication: no data without signing in, on every route; sessions that expire; lock-out shown."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from taperwise.store import open_store
from taperwise.store.models import AuditEvent
from taperwise.store.security import MAX_FAILED_LOGINS
from taperwise.web.app import WebConfigError, create_app
from taperwise.web.auth import safe_next
from taperwise.web.sessions import (
    ABSOLUTE_TIMEOUT_SECONDS,
    COOKIE,
    IDLE_TIMEOUT_SECONDS,
    SessionCodec,
    WebSession,
)
from tests.web.conftest import PASSWORD, SECRET, csrf_of, patient_ids, sign_in

# Reachable without signing in, on purpose. Adding a route here is a decision to review.
PUBLIC = {
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("GET", "/healthz"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
}


def app_routes(routes: list[Any]) -> Iterator[tuple[str, str]]:
    """(method, path) of every route, including those of included routers (FastAPI ≥ 0.16x nests them)."""
    for route in routes:
        if hasattr(route, "original_router"):
            yield from app_routes(route.original_router.routes)
        elif getattr(route, "methods", None):
            for method in sorted(route.methods - {"HEAD"}):
                yield method, route.path


def concrete(path: str) -> str:
    return path.replace("{patient_id}", "1")


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
        if path.startswith("/api/"):
            assert response.status_code == 401, (method, path)
            assert response.json() == {"detail": "Sign in first."}
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
    sign_in(client, "dr.avery")
    header = client.get("/worklist").headers["set-cookie"].lower()
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


def test_a_session_expires_after_the_idle_limit_and_after_the_absolute_limit(monkeypatch: pytest.MonkeyPatch):
    codec = SessionCodec(SECRET)
    session = WebSession()
    session.sign_in(7)
    value = codec.dumps(session)
    loaded = codec.loads(value)
    assert loaded is not None
    assert loaded.user_id == 7
    assert codec.loads(value, now=time.time() + ABSOLUTE_TIMEOUT_SECONDS + 1) is None
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + IDLE_TIMEOUT_SECONDS + 5)
    assert codec.loads(value) is None


def test_a_session_signed_with_another_key_is_refused():
    value = SessionCodec("another-key-" + "y" * 40).dumps(WebSession(user_id=1, signed_in_at=time.time()))
    assert SessionCodec(SECRET).loads(value) is None


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
    assert "Username or password not recognised" in response.text
    with open_store(store_url).session() as s:
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.username == "dr.avery")).all()
    assert "login_failed" in actions


def test_repeated_failures_lock_the_account_and_the_login_page_says_so(client: TestClient):
    token = csrf_of(client)
    for _ in range(MAX_FAILED_LOGINS):
        client.post(
            "/login", data={"username": "pharm.bell", "password": "not the password", "csrf_token": token}
        )
    response = client.post(
        "/login", data={"username": "pharm.bell", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 401
    assert "This account is locked" in response.text
    assert "UTC" in response.text
    assert client.get("/api/me").status_code == 401


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
    monkeypatch.setenv("TAPERWISE_DEV", "1")
    assert create_app(store_url).state.dev_mode is True


def test_dev_mode_cookies_work_over_plain_http(store_url: str, monkeypatch):
    monkeypatch.setenv("TAPERWISE_DEV", "1")
    with TestClient(create_app(store_url)) as client:  # http://testserver
        sign_in(client, "dr.avery")
        assert "secure" not in client.get("/worklist").headers["set-cookie"].lower()
        assert "S001" in patient_ids(client)
