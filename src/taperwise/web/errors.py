"""Every error the app returns, in the form its reader expects: a page for the pages, problem JSON
(RFC 9457, `application/problem+json`) for `/api/…`.

- HTTP errors (an unknown address, a method a route does not take, a refused filter) keep their status
  and their message; the API body is `{type, title, status, detail}` (`detail` as FastAPI's own errors
  had it, so existing clients keep reading it).
- A request the routes' declared types refuse (a page number that is text) is a 400 page, or a 422
  problem listing each field and what is wrong with it — never the submitted value, which may be
  hostile or enormous.
- Anything unexpected is a 500 that names the request id (also in the server log, with the error's type
  and where it was raised), never the exception's message: a database error quotes the values it was
  given, and those may be patient identifiers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import HTMLResponse, JSONResponse, Response

from taperwise.web.rendering import render

PROBLEM_JSON = "application/problem+json"
PAGE_TITLES = {
    400: "The request could not be used",
    401: "Sign in first",
    403: "Request refused",
    404: "Page not found",
    405: "Not allowed here",
}
UNEXPECTED = "Something went wrong on our side. Nothing you entered was lost; please try again."


def is_api(request: Request) -> bool:
    """JSON clients: the API, and the CDS Hooks services an EHR calls."""
    path = request.url.path
    return path in ("/api", "/cds-services") or path.startswith(("/api/", "/cds-services/"))


def problem(status: int, detail: str, *, extra: dict[str, Any] | None = None) -> JSONResponse:
    """A problem-details response: the standard members, plus any `extra` ones."""
    body: dict[str, Any] = {"type": "about:blank", "title": _phrase(status), "status": status}
    body["detail"] = detail
    return JSONResponse(body | (extra or {}), status_code=status, media_type=PROBLEM_JSON)


def error_page(request: Request, status: int, message: str, title: str | None = None) -> Response:
    """The error page, with the signed-in user's header when the request got as far as signing in."""
    user = getattr(request.state, "user", None)
    context = {"title": title or PAGE_TITLES.get(status, _phrase(status)), "message": message}
    return render(request, "error.html", context, user=user, status_code=status)


def respond(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    response = problem(status, message) if is_api(request) else error_page(request, status, message)
    response.headers.update(headers or {})
    return response


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    message = str(exc.detail) if exc.detail else _phrase(exc.status_code)
    if exc.status_code == 404 and exc.detail == HTTPStatus.NOT_FOUND.phrase:
        message = "There is no page at this address."
    elif exc.status_code == 405:
        message = "This address does not take that kind of request."
    return respond(request, exc.status_code, message, dict(exc.headers or {}))


async def validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    fields = [_field_error(error) for error in exc.errors()]
    if is_api(request):
        return problem(422, "Some values in the request cannot be used.", extra={"errors": fields})
    named = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return error_page(request, 400, f"The address has a value this page cannot use ({named}).")


class ErrorPages(BaseHTTPMiddleware):
    """Turns an unexpected exception into the 500 page or problem (logs.RequestLog, inside it, logs it)."""

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        try:
            return await call_next(request)
        except Exception:  # the one place every unforeseen error is answered (RequestLog logged it)
            request_id = getattr(request.state, "request_id", None)
            message = UNEXPECTED + (f" (request {request_id})" if request_id else "")
            try:
                response = respond(request, 500, message)
            except Exception:  # the page itself failed to render: plain text, still no details
                response = HTMLResponse(f"<p>{message}</p>", status_code=500)
            if request_id:
                response.headers["X-Request-ID"] = request_id
            return response


def install(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)


def _field_error(error: Any) -> dict[str, str]:
    location = [str(part) for part in error.get("loc", ()) if part not in ("path", "query", "body")]
    return {"field": ".".join(location) or "request", "message": str(error.get("msg", "invalid"))[:200]}


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
