"""Signing in and out, and the `require_user` dependency every non-public route declares.

Anonymous requests never reach a route's body: pages answer with a redirect to `/login` (the path to come
back to is kept, but only when it is a path on this site, never an open redirect) and `/api/…` answers
401 — no data either way. Passwords are checked by the store (argon2, lock-out after repeated failures
of an account or of a client address, every attempt audited); this module turns its answer into a
session in the store and one message that does not say which accounts exist or are locked.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from starlette.responses import RedirectResponse, Response

from taperwise.store import Store
from taperwise.store.models import User
from taperwise.store.security import LOCKOUT, MAX_FAILED_LOGINS
from taperwise.store.sessions import end_session, end_user_sessions, start_session
from taperwise.store.users import authenticate, get_user
from taperwise.web.csrf import new_token
from taperwise.web.rendering import render
from taperwise.web.sessions import current_session

router = APIRouter()

MAX_USERNAME = 100  # the store's column width
MAX_PASSWORD = 1024  # argon2 takes anything, but a megabyte "password" is a denial of service
PUBLIC_PATHS = frozenset({"/login", "/healthz"})


class NotSignedIn(HTTPException):
    """Raised by `require_user`; the app turns it into a redirect (pages) or a 401 (API)."""

    def __init__(self) -> None:
        super().__init__(status_code=status.HTTP_401_UNAUTHORIZED, detail="Sign in first.")


def client_of(request: Request) -> tuple[str | None, str | None]:
    """(ip, user agent) for the audit log."""
    ip = request.client.host if request.client is not None else None
    return ip, request.headers.get("user-agent")


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def require_user(request: Request) -> User:
    """The signed-in, still active user; otherwise NotSignedIn (the session is cleared)."""
    session = current_session(request)
    if session.user_id is None:
        raise NotSignedIn()
    with store_of(request).session() as s:
        user = get_user(s, session.user_id)
        if user is not None and not user.active:  # deactivated while signed in: every session ends now
            end_user_sessions(s, user, "deactivated", None)
    if user is None or not user.active:
        session.sign_out()
        raise NotSignedIn()
    request.state.user = user  # for the request log (its name only)
    return user


CurrentUser = Annotated[User, Depends(require_user)]


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a local path only (no scheme, no `//host`, no backslash tricks)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/worklist"
    if any(ord(char) < 32 for char in target):
        return "/worklist"
    return target


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=status.HTTP_303_SEE_OTHER)


def _login_form(request: Request, *, next_path: str, username: str = "", message: str | None = None,
                status_code: int = 200, notice: str | None = None) -> Response:  # fmt: skip
    context = {
        "next_path": safe_next(next_path),
        "username": username,
        "message": message,
        "notice": notice,
        "max_failed": MAX_FAILED_LOGINS,
        "lockout_minutes": int(LOCKOUT.total_seconds() // 60),
    }
    return render(request, "login.html", context, status_code=status_code)


@router.get("/login", include_in_schema=False)
def login_page(request: Request, next: str = "/worklist", signed_out: str = "") -> Response:
    if current_session(request).user_id is not None:
        return RedirectResponse(safe_next(next), status_code=status.HTTP_303_SEE_OTHER)
    notice = SIGNED_OUT_EVERYWHERE if signed_out == "everywhere" else None
    return _login_form(request, next_path=next, notice=notice)


SIGNED_OUT_EVERYWHERE = "Every session of your account has ended, on this and every other browser."


REFUSED = (
    "Sign-in failed: the username or password is not recognised, or the account is locked for a while "
    "after repeated failures. Check them and try again later, or ask an administrator."
)  # one message for every refusal: it never tells an attacker which accounts exist or are locked


@router.post("/login", include_in_schema=False)
def login(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/worklist",
) -> Response:
    if not username or not password:
        return _login_form(request, next_path=next, username=username[:MAX_USERNAME],
                           message="Enter your username and password.", status_code=400)  # fmt: skip
    if len(username) > MAX_USERNAME or len(password) > MAX_PASSWORD or "\x00" in username + password:
        return _login_form(request, next_path=next, message="Username or password is too long or contains "
                           "characters that are not allowed.", status_code=400)  # fmt: skip
    ip, agent = client_of(request)
    session = current_session(request)
    with store_of(request).session() as s:
        user = authenticate(s, username, password, ip, agent)
        if user is not None:
            if session.token is not None:  # a browser signed in as someone: that session ends first
                end_session(s, session.token, "replaced", None, ip, agent)
            csrf = new_token()
            token, _ = start_session(s, user, csrf, ip, agent)
            user_id = user.id
    if user is None:
        return _login_form(request, next_path=next, username=username, message=REFUSED, status_code=401)
    session.sign_in(user_id, token, csrf)
    return RedirectResponse(safe_next(next), status_code=status.HTTP_303_SEE_OTHER)


@router.post("/logout", include_in_schema=False)
def logout(request: Request) -> Response:
    session = current_session(request)
    if session.token is not None and session.user_id is not None:
        ip, agent = client_of(request)
        with store_of(request).session() as s:
            end_session(s, session.token, "signed_out", get_user(s, session.user_id), ip, agent)
    session.sign_out()
    return RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
