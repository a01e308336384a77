"""Jinja2 set-up shared by every page: autoescaping always on, and the context every template needs.

Autoescaping is forced for every template (not only `.html`), so a hostile drug name or patient id from
an EHR export is shown as text, never run as markup. Nothing secret reaches a template: the context holds
the CSRF token of the viewer's own session (which the form must echo) and the signed-in user's display
fields, nothing else from the configuration.
"""

from __future__ import annotations

from decimal import Decimal
from importlib import resources
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.responses import HTMLResponse

from taperwise import __version__
from taperwise.store.models import User

_TEMPLATES = resources.files("taperwise.web") / "templates"


def make_templates() -> Jinja2Templates:
    environment = Environment(
        loader=FileSystemLoader(str(_TEMPLATES)),
        autoescape=True,
        undefined=StrictUndefined,  # a misspelt variable is an error in tests, not a blank on a page
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["plain"] = plain
    return Jinja2Templates(env=environment)


def plain(value: Decimal | None) -> str:
    """A quantity as people write it: 60, 37.5 (never 6E+1); empty for None."""
    return "" if value is None else format(value.normalize(), "f")


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    user: User | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    base = {
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "user": user,
        "version": __version__,
        "dev_mode": request.app.state.dev_mode,
    }
    return templates.TemplateResponse(request, name, base | context, status_code=status_code)
