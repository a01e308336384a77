"""Jinja2 set-up shared by every page: autoescaping always on, and the context every template needs.

Autoescaping is forced for every template (not only `.html`), so a hostile drug name or patient id from
an EHR export is shown as text, never run as markup. Text that came from a file or a person (ids, drug
names, reasons quoting them, user names) goes through `|ut` in element content and `|clip` in attributes:
bidirectional controls (a right-to-left override, U+202E, makes the text after it read backwards) are
shown as visible marks such as [U+202E], absurd lengths are cut to DISPLAY_LIMIT characters with the
full length said, and `|ut` wraps the result in `<bdi>` so that right-to-left text cannot reorder the
label beside it.

Nothing secret reaches a template: the context holds the CSRF token of the viewer's own session (which
the form must echo) and the signed-in user's display fields, nothing else from the configuration.
"""

from __future__ import annotations

from decimal import Decimal
from importlib import resources
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape
from starlette.responses import HTMLResponse

from taperwise import __version__
from taperwise.store.models import User

_TEMPLATES = resources.files("taperwise.web") / "templates"
DISPLAY_LIMIT = 200
# Bidirectional formatting characters (Unicode UAX #9: embeddings, overrides, isolates, marks) and the
# invisible zero-width space and byte-order mark: nothing in an id or a drug name needs them.
_INVISIBLE = "\u061c\u200b\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
_MARKS = {ord(c): f"[U+{ord(c):04X}]" for c in _INVISIBLE}


def make_templates() -> Jinja2Templates:
    environment = Environment(
        loader=FileSystemLoader(str(_TEMPLATES)),
        autoescape=True,
        undefined=StrictUndefined,  # a misspelt variable is an error in tests, not a blank on a page
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["plain"] = plain
    environment.filters["clip"] = clip
    environment.filters["ut"] = user_text
    return Jinja2Templates(env=environment)


def plain(value: Decimal | None) -> str:
    """A quantity as people write it: 60, 37.5 (never 6E+1); empty for None."""
    return "" if value is None else format(value.normalize(), "f")


def clip(value: object, limit: int = DISPLAY_LIMIT) -> str:
    """Text from outside for display: invisible direction controls made visible, cut at `limit`."""
    text = "" if value is None else str(value)
    shown = text.translate(_MARKS)
    if len(shown) <= limit:
        return shown
    return f"{shown[:limit]}… ({len(text):,} characters)"


def user_text(value: object, limit: int = DISPLAY_LIMIT) -> Markup:
    """`clip`, escaped, isolated in `<bdi>` (its direction is its own, not the surrounding label's)."""
    return Markup("<bdi>") + escape(clip(value, limit)) + Markup("</bdi>")


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
