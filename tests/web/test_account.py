"""The account page: where the user is signed in, and "sign out everywhere" from the browser."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from taperwise.store import open_store
from taperwise.store.models import AuditEvent, UserSession
from tests.web.conftest import csrf_of, sign_in


def test_the_account_page_lists_the_live_sessions_and_marks_this_one(
    app: FastAPI, signed_in: TestClient
) -> None:
    with TestClient(app, base_url="https://testserver") as laptop:
        sign_in(laptop, "dr.avery")
        page = signed_in.get("/account")
    assert page.status_code == 200
    assert page.text.count("<tr") == 3  # the header row and two sessions
    assert page.text.count('class="tag">this browser') == 1
    assert "Sign out everywhere" in page.text


def test_sign_out_everywhere_ends_every_session_of_the_user_and_no_one_elses(
    app: FastAPI, signed_in: TestClient, store_url: str
) -> None:
    with (
        TestClient(app, base_url="https://testserver") as laptop,
        TestClient(app, base_url="https://testserver") as colleague,
    ):
        sign_in(laptop, "dr.avery")
        sign_in(colleague, "pharm.bell")
        refused = signed_in.post("/account/sign-out-everywhere", follow_redirects=False)
        assert refused.status_code == 403  # no CSRF token: refused, nothing ended
        assert laptop.get("/worklist", follow_redirects=False).status_code == 200
        done = signed_in.post(
            "/account/sign-out-everywhere", data={"csrf_token": csrf_of(signed_in)}, follow_redirects=False
        )
        assert done.status_code == 303
        assert done.headers["location"] == "/login?signed_out=everywhere"
        assert "Every session of your account has ended" in signed_in.get(done.headers["location"]).text
        for ended in (signed_in, laptop):
            again = ended.get("/worklist", follow_redirects=False)
            assert again.status_code == 303
            assert again.headers["location"].startswith("/login")
        assert colleague.get("/worklist", follow_redirects=False).status_code == 200
    with open_store(store_url).session() as s:
        reasons = s.scalars(select(UserSession.end_reason).where(UserSession.end_reason.is_not(None))).all()
        audited = s.scalars(
            select(AuditEvent.detail).where(AuditEvent.action == "logout", AuditEvent.username == "dr.avery")
        ).all()
    assert sorted(reasons) == ["signed_out_everywhere", "signed_out_everywhere"]
    assert audited == ["signed_out_everywhere: 2 session(s) ended"]
