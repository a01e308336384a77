"""CSRF: every unsafe request must carry its own session's token, in the form or the header."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from taperwise.web.csrf import UNSAFE_METHODS, new_token, tokens_match
from tests.web.conftest import PASSWORD, csrf_of, sign_in
from tests.web.test_auth import EHR_ROUTES, app_routes, concrete


def test_tokens_match_only_when_equal_and_non_empty():
    token = new_token()
    assert tokens_match(token, token)
    assert not tokens_match(token, new_token())
    assert not tokens_match(token, token[:-1])
    assert not tokens_match("", "")
    assert not tokens_match(None, token)
    assert not tokens_match(token, None)


def test_sign_in_without_a_token_is_refused(client: TestClient):
    client.get("/login")
    response = client.post("/login", data={"username": "dr.avery", "password": PASSWORD})
    assert response.status_code == 403
    assert "security token" in response.text
    assert client.get("/api/me").status_code == 401


def test_a_token_from_another_session_is_refused(client: TestClient, app: FastAPI):
    with TestClient(app, base_url="https://testserver") as other:
        foreign = csrf_of(other)
    csrf_of(client)
    data = {"username": "dr.avery", "password": PASSWORD, "csrf_token": foreign}
    assert client.post("/login", data=data).status_code == 403


def test_the_token_is_accepted_in_the_header_as_htmx_sends_it(client: TestClient):
    token = csrf_of(client)
    response = client.post(
        "/login",
        data={"username": "dr.avery", "password": PASSWORD},
        headers={"X-CSRF-Token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303


def test_sign_out_without_a_token_does_not_sign_out(signed_in: TestClient):
    assert signed_in.post("/logout").status_code == 403
    assert signed_in.get("/api/me").status_code == 200


def test_a_new_token_is_issued_at_sign_in(client: TestClient):
    before = csrf_of(client)
    sign_in(client, "dr.avery")
    page = client.get("/worklist").text
    assert before not in page
    assert 'name="csrf-token"' in page


def test_every_unsafe_route_refuses_a_signed_in_request_without_a_token(app: FastAPI, signed_in: TestClient):
    unsafe = [(m, p) for m, p in app_routes(app.routes) if m in UNSAFE_METHODS]
    assert unsafe, "no unsafe routes found: the route walk is broken"
    for method, path in unsafe:
        as_form = signed_in.request(method, concrete(path), data={"x": "1"}, follow_redirects=False)
        as_json = signed_in.request(method, concrete(path), json={"x": 1}, follow_redirects=False)
        if path.startswith(EHR_ROUTES):  # no cookie is read there: the EHR's JWT is required instead
            assert as_form.status_code == 401, (method, path)
            assert as_json.status_code == 401, (method, path)
            assert "refused" in as_json.json()["detail"]
            continue
        assert as_form.status_code == 403, (method, path)
        assert as_json.status_code == 403, (method, path)
    assert signed_in.get("/api/me").status_code == 200  # still signed in: /logout was refused too
