"""The worklist's filters, read the same way from the page's query string and from the API's.

Filters only narrow (a box not ticked means "any", never "not"). Search text is checked before it goes
near the store: too long, control characters or a NUL byte get a message saying what is wrong, rather
than an error page or a PostgreSQL encoding failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from taperwise.store.models import User
from taperwise.store.worklist import Page, WorklistRow, worklist

MAX_SEARCH = 100
PAGE_SIZE = 50
FILTER_NAMES = ("high_dose_90", "benzo", "multi_provider", "new_prescriber")


Client = tuple[str | None, str | None]  # (ip, user agent) for the audit log


class FilterError(ValueError):
    """A filter value the worklist cannot use; the message is shown to the user as is."""


@dataclass(frozen=True)
class WorklistFilters:
    high_dose_90: bool = False
    benzo: bool = False
    multi_provider: bool = False
    new_prescriber: bool = False
    search: str = ""
    page: int = 1

    @classmethod
    def parse(cls, params: dict[str, str]) -> WorklistFilters:
        """From query parameters (`?high_dose_90=1&q=S00&page=2`); FilterError names what is wrong."""
        search = params.get("q", "").strip()
        if len(search) > MAX_SEARCH:
            raise FilterError(f"Search text is too long: use at most {MAX_SEARCH} characters.")
        if any(ord(char) < 32 or ord(char) == 127 for char in search):
            raise FilterError("Search text contains control characters (such as a NUL byte); remove them.")
        raw_page = params.get("page", "1") or "1"
        if not raw_page.isdigit() or not 1 <= int(raw_page) <= 1_000_000:
            raise FilterError("Page must be a whole number from 1.")
        ticked = {name: params.get(name, "") in ("1", "true", "on") for name in FILTER_NAMES}
        return cls(search=search, page=int(raw_page), **ticked)

    def query(self, **changes: Any) -> dict[str, str]:
        """The query string of these filters (with `changes`), for links such as the next page."""
        values = {"high_dose_90": self.high_dose_90, "benzo": self.benzo,
                  "multi_provider": self.multi_provider, "new_prescriber": self.new_prescriber,
                  "q": self.search, "page": self.page} | changes  # fmt: skip
        out: dict[str, str] = {}
        for name, value in values.items():
            if value is True:
                out[name] = "1"
            elif value not in (False, "", None) and not (name == "page" and value == 1):
                out[name] = str(value)
        return out

    def run(
        self,
        s: Session,
        user: User,
        page_size: int = PAGE_SIZE,
        client: tuple[str | None, str | None] = (None, None),
    ) -> Page[WorklistRow]:
        return worklist(
            s,
            user,
            high_dose_90=True if self.high_dose_90 else None,
            benzo=True if self.benzo else None,
            multi_provider=True if self.multi_provider else None,
            new_prescriber=True if self.new_prescriber else None,
            search=self.search or None,
            page=self.page,
            page_size=page_size,
            ip=client[0],
            user_agent=client[1],
        )
