"""Browser sessions: the cookie holds a random token; the session itself lives in the store.

The cookie is signed with the app's secret (itsdangerous) and holds one random value: for a signed-in
browser the session token (the store keeps its SHA-256 with the user, the CSRF token and the times:
store/sessions.py), before sign-in only the CSRF token that protects the login form. It carries no patient
data and no user id. It is HttpOnly (scripts cannot read it), SameSite=Lax (not sent on cross-site form
posts) and Secure (HTTPS only) unless the app runs in developer mode, which listens on loopback only.

Because the session is in the store, signing out, "sign out everywhere" and deactivating an account end it
at once: a copy of the cookie replayed afterwards is an anonymous visitor. Expiry follows OWASP ASVS 4.0.3
V3.3.2 for level 2 (30 minutes idle, 12 hours at most), enforced by the store on every request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from taperwise.store import Store
from taperwise.store.sessions import ABSOLUTE_TIMEOUT, IDLE_TIMEOUT, live_session
from taperwise.web.csrf import new_token

COOKIE = "taperwise_session"
IDLE_TIMEOUT_SECONDS = int(IDLE_TIMEOUT.total_seconds())
ABSOLUTE_TIMEOUT_SECONDS = int(ABSOLUTE_TIMEOUT.total_seconds())
_SALT = "taperwise.session.v2"  # v1 cookies (the user id inside) are not read: their holders sign in again


@dataclass
class WebSession:
    """This request's session: `token` and `user_id` are None until sign-in (and after sign-out)."""

    csrf_token: str = field(default_factory=new_token)
    user_id: int | None = None
    token: str | None = None
    changed: bool = True

    def sign_in(self, user_id: int, token: str, csrf_token: str) -> None:
        # A fresh CSRF token and session token at sign-in: one planted before it (fixation) is worthless.
        self.user_id, self.token, self.csrf_token = user_id, token, csrf_token
        self.changed = True

    def sign_out(self) -> None:
        self.csrf_token = new_token()
        self.user_id = None
        self.token = None
        self.changed = True


class SessionCodec:
    """Signs the cookie's one value and reads it back, refusing a forged or over-age cookie."""

    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt=_SALT)

    def dumps(self, session: WebSession) -> str:
        payload = {"s": session.token} if session.token is not None else {"c": session.csrf_token}
        return self._serializer.dumps(payload)

    def loads(self, value: str | None) -> dict[str, str] | None:
        """{"s": token} or {"c": csrf token}, or None when absent, forged or older than 12 hours."""
        if not value:
            return None
        try:
            payload: Any = self._serializer.loads(value, max_age=ABSOLUTE_TIMEOUT_SECONDS)
        except BadSignature:  # also SignatureExpired, its subclass
            return None
        if not isinstance(payload, dict) or len(payload) != 1:
            return None
        key, item = next(iter(payload.items()))
        if key not in ("s", "c") or not isinstance(item, str) or not 20 <= len(item) <= 100:
            return None
        return {key: item}


def _session_of(store: Store, token: str) -> WebSession | None:
    """The live session of `token` (its idle clock moved on), or None."""
    with store.session() as s:
        row = live_session(s, token)
        if row is None:
            return None
        return WebSession(csrf_token=row.csrf_token, user_id=row.user_id, token=token, changed=False)


class SessionMiddleware(BaseHTTPMiddleware):
    """Puts `request.state.session` (and its CSRF token) on every request; writes the cookie on change."""

    def __init__(self, app: ASGIApp, codec: SessionCodec, secure: bool) -> None:
        super().__init__(app)
        self.codec = codec
        self.secure = secure

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if request.url.path.startswith("/static/"):
            return await call_next(request)  # files for everyone: no session read, no cookie written
        payload = self.codec.loads(request.cookies.get(COOKIE)) or {}
        session: WebSession | None = None
        if "s" in payload:
            session = await run_in_threadpool(_session_of, request.app.state.store, payload["s"])
            if session is None:  # ended or past a limit: an anonymous visitor, told by a new cookie
                session = WebSession()
        elif "c" in payload:
            session = WebSession(csrf_token=payload["c"], changed=False)
        session = session or WebSession()
        request.state.session = session
        request.state.csrf_token = session.csrf_token
        response = await call_next(request)
        if session.changed:
            response.set_cookie(
                COOKIE,
                self.codec.dumps(session),
                max_age=ABSOLUTE_TIMEOUT_SECONDS,
                httponly=True,
                samesite="lax",
                secure=self.secure,
                path="/",
            )
        return response


def current_session(request: Request) -> WebSession:
    session = getattr(request.state, "session", None)
    if not isinstance(session, WebSession):  # only when the middleware is missing: a wiring error
        raise RuntimeError("SessionMiddleware is not installed")
    return session
