"""The web application: `create_app(store_url)` wires the store, sessions, CSRF, logging, pages and API.

Configuration is refused rather than guessed (settings.py reads the environment): without
`TAPERWISE_SECRET_KEY` (or `secret_key=`) the app does not start, nor with a short or patterned key,
unless `TAPERWISE_DEV=1` says this is a developer's machine — then a random key is made for this process
and cookies drop the Secure flag so plain http works; `taperwise serve` then listens on loopback only.
Every response carries security headers: a Content-Security-Policy with no inline script or style,
X-Frame-Options DENY, a strict Referrer-Policy, and `no-store` caching, because the pages hold patient
data.
"""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request, status
from fastapi.exceptions import HTTPException
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import Response

from taperwise import __version__
from taperwise.errors import TaperwiseError
from taperwise.settings import Settings
from taperwise.store import Store, open_store
from taperwise.web import account, api, auth, cds, errors, logs, pages, plan_pages, program_pages
from taperwise.web.csrf import CsrfRejected, verify_csrf
from taperwise.web.rendering import make_templates
from taperwise.web.sessions import SessionCodec, SessionMiddleware

MIN_SECRET_LENGTH = 32
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class WebConfigError(TaperwiseError):
    """The app cannot start as configured (no secret key in production, a short key)."""


MIN_SECRET_BITS = 128  # the key's estimated entropy (character frequencies × length) must reach this


def dev_mode() -> bool:
    return Settings.from_environment().dev_mode


def estimated_bits(key: str) -> float:
    """Shannon entropy of the key's characters × its length: a generous upper bound on its randomness,
    low for repeated or patterned keys ("a" × 40 → 0, "abcd" × 10 → 80)."""
    counts = [key.count(char) for char in set(key)]
    return -sum(n * math.log2(n / len(key)) for n in counts)


def resolve_secret(secret_key: str | None, settings: Settings | None = None) -> str:
    settings = settings or Settings.from_environment()
    key = secret_key or settings.secret_key
    if key:
        if len(key) < MIN_SECRET_LENGTH or estimated_bits(key) < MIN_SECRET_BITS:
            raise WebConfigError(
                f"the secret key is too short or too predictable ({len(key)} characters, about "
                f"{estimated_bits(key):.0f} bits); use at least {MIN_SECRET_LENGTH} random characters, e.g. "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            )
        return key
    if settings.dev_mode:
        return secrets.token_urlsafe(48)
    raise WebConfigError(
        "TAPERWISE_SECRET_KEY is not set: set it to a long random value (it signs the session cookies), "
        "or set TAPERWISE_DEV=1 on a developer's machine"
    )


class SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        return response


async def _not_signed_in(request: Request, exc: Exception) -> Response:
    if errors.is_api(request):
        return errors.problem(status.HTTP_401_UNAUTHORIZED, "Sign in first.")
    return auth.login_redirect(request)


async def _csrf_rejected(request: Request, exc: Exception) -> Response:
    message = str(exc.detail) if isinstance(exc, HTTPException) else "Forbidden"
    return errors.respond(request, status.HTTP_403_FORBIDDEN, message)


def database_status(store: Store) -> dict[str, Any]:
    try:
        with store.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"status": "ok", "dialect": store.dialect, "revision": store.revision()}
    except Exception as exc:  # a health check reports every failure instead of raising it
        return {"status": "error", "dialect": store.dialect, "error": type(exc).__name__}


def create_app(
    store_url: str,
    *,
    secret_key: str | None = None,
    warehouse: Path | None = None,
    cds_no_auth: bool = False,
    cds_issuers: str | None = None,
) -> FastAPI:
    """The app over the store at `store_url` (migrated on open). `warehouse`: an analytics store path,
    reported by /healthz; the pages read published registry snapshots only (docs/web.md). `cds_issuers`:
    the EHRs trusted by the CDS Hooks services (default TAPERWISE_CDS_ISSUERS); `cds_no_auth`: accept
    unauthenticated CDS Hooks calls, in developer mode only (docs/cds-hooks.md)."""
    settings = Settings.from_environment()
    secret = resolve_secret(secret_key, settings)
    try:
        cds_runtime = cds.configure(
            cds_issuers or settings.cds_issuers, no_auth=cds_no_auth, dev_mode=settings.dev_mode,
            dev_organisation=settings.cds_dev_org, public_url=settings.public_url,
        )  # fmt: skip
    except cds.CdsConfigError as exc:
        raise WebConfigError(str(exc)) from exc
    store = open_store(store_url)
    # No Swagger or ReDoc pages (they load scripts from a CDN, which the CSP refuses) and no public
    # schema: the OpenAPI document is at /api/openapi.json for signed-in users; docs/web.md describes it.
    app = FastAPI(
        title="taperwise",
        version=__version__,
        description="The registry worklist and each patient's prescribing picture. Sign in at /login; "
        "the API uses the same session cookie and needs the X-CSRF-Token header on unsafe methods.",
        dependencies=[Depends(verify_csrf)],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.store = store
    app.state.templates = make_templates()
    app.state.dev_mode = settings.dev_mode
    app.state.warehouse = warehouse
    app.state.cds = cds_runtime
    logs.configure(settings)
    app.add_middleware(SessionMiddleware, codec=SessionCodec(secret), secure=not settings.dev_mode)
    app.add_middleware(logs.RequestLog)
    app.add_middleware(errors.ErrorPages)  # outside the log (which records the failure), inside the headers
    app.add_middleware(SecurityHeaders)  # added last, so it is outermost and covers every response
    errors.install(app)  # pages get an error page, /api/… problem JSON (web/errors.py)
    app.add_exception_handler(auth.NotSignedIn, _not_signed_in)
    app.add_exception_handler(CsrfRejected, _csrf_rejected)
    app.mount(
        "/static", StaticFiles(directory=str(resources.files("taperwise.web") / "static")), name="static"
    )
    app.include_router(auth.router)
    app.include_router(pages.router)
    app.include_router(program_pages.router)
    app.include_router(plan_pages.router)
    app.include_router(account.router)
    app.include_router(api.router)
    app.include_router(cds.router)

    @app.get("/api/openapi.json", tags=["api"], summary="This API's OpenAPI document (signed-in users)")
    def openapi_document(user: auth.CurrentUser) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/healthz", tags=["health"], summary="Version and database status")
    def healthz() -> JSONResponse:
        database = database_status(store)
        body: dict[str, Any] = {"status": database["status"], "version": __version__, "database": database}
        if warehouse is not None:
            # Whether it is there, not where: this endpoint is public.
            body["warehouse"] = {"readable": os.access(warehouse, os.R_OK)}
        code = status.HTTP_200_OK if database["status"] == "ok" else status.HTTP_503_SERVICE_UNAVAILABLE
        return JSONResponse(body, status_code=code)

    return app
