"""Cross-site request forgery protection: the synchroniser-token pattern, one token per session.

Every session (anonymous ones too, so the login form is protected against login CSRF) carries a random
token inside its signed, HttpOnly cookie. Pages put it in a hidden `csrf_token` field of every form and in
a `<meta name="csrf-token">` that htmx sends back as the `X-CSRF-Token` header; JSON clients send the same
header. Every POST, PUT, PATCH and DELETE must present the token of its own session, compared in constant
time (OWASP CSRF Prevention Cheat Sheet, "Synchronizer Token Pattern"). The SameSite=Lax cookie is a
second, independent line of defence, not the only one.

The check runs as an application-wide FastAPI dependency, so a route added later is covered without
anyone remembering to add it.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import HTTPException, Request, status

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
TOKEN_BYTES = 32
CDS_PREFIX = "/cds-services"


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def tokens_match(expected: str | None, presented: str | None) -> bool:
    """Constant-time equality; a missing or empty token on either side never matches."""
    if not expected or not presented:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), presented.encode("utf-8"))


class CsrfRejected(HTTPException):
    def __init__(self) -> None:
        super().__init__(
            status_code=status.HTTP_403_FORBIDDEN,
            detail="The form's security token is missing or out of date. Reload the page and try again.",
        )


async def presented_token(request: Request) -> str | None:
    """The token the request carries: the header first (htmx, JSON), else the form field."""
    header = request.headers.get(HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        # Starlette caches the parsed form on the request, so the route reads the same form afterwards.
        value = (await request.form()).get(FIELD)
        return value if isinstance(value, str) else None
    return None


async def verify_csrf(request: Request) -> None:
    """Application-wide dependency: refuse an unsafe request whose token is not its session's."""
    if request.method not in UNSAFE_METHODS:
        return
    if request.url.path == CDS_PREFIX or request.url.path.startswith(CDS_PREFIX + "/"):
        return  # the EHR's signed JWT authenticates each CDS Hooks call; no cookie is read there (web/cds.py)
    expected = getattr(request.state, "csrf_token", None)
    if not tokens_match(expected, await presented_token(request)):
        raise CsrfRejected()
