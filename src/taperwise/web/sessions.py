"""Browser sessions: a signed cookie holding the user id, the CSRF token and the sign-in time.

The cookie is signed with the app's secret (itsdangerous, HMAC-SHA1 over a timestamped payload) and
carries no patient data. It is HttpOnly (scripts cannot read it), SameSite=Lax (not sent on cross-site
form posts) and Secure (HTTPS only) unless `TAPERWISE_DEV=1`. Expiry follows OWASP ASVS 4.0.3 V3.3.2 for
level 2: re-authentication after 30 minutes idle and after 12 hours at most, whatever the activity. The
cookie is re-signed on each request of a signed-in user, which is what makes the idle limit slide.

A stateless cookie cannot be revoked server-side before it expires; the user is re-read from the store on
every request, so a deactivated account loses access at once (see docs/decisions/0007-web-app.md).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from taperwise.web.csrf import new_token

COOKIE = "taperwise_session"
IDLE_TIMEOUT_SECONDS = 30 * 60  # ASVS V3.3.2 (L2): 30 minutes of inactivity
ABSOLUTE_TIMEOUT_SECONDS = 12 * 60 * 60  # ASVS V3.3.2 (L2): 12 hours
_SALT = "taperwise.session.v1"


@dataclass
class WebSession:
    """What the cookie holds. `user_id` is None until sign-in."""

    csrf_token: str = field(default_factory=new_token)
    user_id: int | None = None
    signed_in_at: float | None = None
    changed: bool = True

    def sign_in(self, user_id: int) -> None:
        # A fresh token at sign-in: a token planted before it (session fixation) is worthless after.
        self.csrf_token = new_token()
        self.user_id = user_id
        self.signed_in_at = time.time()
        self.changed = True

    def sign_out(self) -> None:
        self.csrf_token = new_token()
        self.user_id = None
        self.signed_in_at = None
        self.changed = True


class SessionCodec:
    """Signs sessions into cookie values and reads them back, refusing forged or expired ones."""

    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt=_SALT)

    def dumps(self, session: WebSession) -> str:
        payload = {"c": session.csrf_token, "u": session.user_id, "t": session.signed_in_at}
        return self._serializer.dumps(payload)

    def loads(self, value: str | None, now: float | None = None) -> WebSession | None:
        """The session in `value`, or None when it is absent, forged, idle too long or too old."""
        if not value:
            return None
        try:
            payload: Any = self._serializer.loads(value, max_age=IDLE_TIMEOUT_SECONDS)
        except BadSignature:  # also SignatureExpired, its subclass
            return None
        if not isinstance(payload, dict) or not isinstance(payload.get("c"), str):
            return None
        user_id, signed_in_at = payload.get("u"), payload.get("t")
        if not isinstance(user_id, int) or not isinstance(signed_in_at, int | float):
            return WebSession(csrf_token=payload["c"], changed=False)
        if (now if now is not None else time.time()) - signed_in_at > ABSOLUTE_TIMEOUT_SECONDS:
            return None
        return WebSession(csrf_token=payload["c"], user_id=user_id, signed_in_at=signed_in_at, changed=False)


class SessionMiddleware(BaseHTTPMiddleware):
    """Puts `request.state.session` (and its CSRF token) on every request; writes the cookie back."""

    def __init__(self, app: ASGIApp, codec: SessionCodec, secure: bool) -> None:
        super().__init__(app)
        self.codec = codec
        self.secure = secure

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        session = self.codec.loads(request.cookies.get(COOKIE)) or WebSession()
        request.state.session = session
        request.state.csrf_token = session.csrf_token
        response = await call_next(request)
        # Re-signed on every response but static files, so that the idle limit slides while in use.
        if session.changed or not request.url.path.startswith("/static/"):
            response.set_cookie(
                COOKIE,
                self.codec.dumps(session),
                max_age=IDLE_TIMEOUT_SECONDS,
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
