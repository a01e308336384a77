"""The server's log: one line per request, as text or JSON, with no patient identifier in it.

A line says when, the request id (also sent back as `X-Request-ID`), the method, the route as declared
(`/patients/{patient_id}`, never the path with its number, never the query string — a search term can be a
patient id), the status, the signed-in user's name and the time taken. Errors add their type and where
they were raised (file, line, function), never their message (which may quote a value).
What a user saw of which patient is in the audit log, not here.
"""

from __future__ import annotations

import json
import logging
import secrets
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response

from taperwise.settings import Settings

LOGGER = "taperwise.web"
FIELDS = ("request_id", "method", "route", "status", "user", "ms", "error", "where")


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
        }
        entry |= {name: getattr(record, name) for name in FIELDS if getattr(record, name, None) is not None}
        return json.dumps(entry, ensure_ascii=False)


class Text(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        parts = [
            f"{name}={getattr(record, name)}" for name in FIELDS if getattr(record, name, None) is not None
        ]
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))
        return f"{stamp} {record.levelname.lower()} {record.getMessage()} {' '.join(parts)}".rstrip()


def configure(settings: Settings) -> logging.Logger:
    """The web log, written to stderr in the settings' format (replacing handlers set up before)."""
    logger = logging.getLogger(LOGGER)
    logger.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if settings.log_format == "json" else Text())
    logger.addHandler(handler)
    logger.setLevel(settings.log_level.upper())
    logger.propagate = False
    return logger


def route_of(request: Request) -> str:
    """The route as declared, or "unmatched" (the path itself may hold an identifier)."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class RequestLog(BaseHTTPMiddleware):
    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request_id = secrets.token_hex(8)
        request.state.request_id = request_id
        started = time.perf_counter()
        logger = logging.getLogger(LOGGER)
        try:
            response = await call_next(request)
        except Exception as exc:
            fields = _fields(request, request_id, 500, started, type(exc).__name__) | {"where": origin(exc)}
            logger.error("request failed", extra=fields)
            raise
        if not request.url.path.startswith("/static/"):
            logger.info("request", extra=_fields(request, request_id, response.status_code, started))
        response.headers["X-Request-ID"] = request_id
        return response


def _fields(
    request: Request, request_id: str, status: int, started: float, error: str | None = None
) -> dict[str, Any]:
    user = getattr(request.state, "user", None)
    return {
        "request_id": request_id,
        "method": request.method,
        "route": route_of(request),
        "status": status,
        "user": getattr(user, "username", None) or "-",
        "ms": round((time.perf_counter() - started) * 1000, 1),
        "error": error,
    }


def origin(exc: BaseException) -> str:
    """Where `exc` was raised: the innermost frame's file (last two parts), line and function — no values."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "-"
    last = frames[-1]
    return f"{'/'.join(last.filename.split('/')[-2:])}:{last.lineno} {last.name}"
