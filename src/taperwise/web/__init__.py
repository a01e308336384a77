"""The clinical web app: FastAPI pages (Jinja2 + vendored htmx) and a JSON API over the clinical store.

`create_app(store_url)` builds it; `taperwise serve` runs it. See docs/web.md.
"""

from taperwise.web.app import create_app

__all__ = ["create_app"]
