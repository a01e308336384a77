"""One exception family for the whole project.

Every message names the record or file and says what to do, because the reader is a clinician or a
data manager, not the author of the code.
"""

from __future__ import annotations


class TaperwiseError(Exception):
    """Base of every error taperwise raises on purpose."""


class UnusableInputError(TaperwiseError):
    """A whole input file cannot be used (missing, unreadable, required columns absent)."""


class KnowledgeError(TaperwiseError):
    """A knowledge data file is missing, malformed, or lacks a required source."""


class RequestValidationError(TaperwiseError):
    """A request (taper plan, follow-up, option) is missing a field or contradicts itself.

    `field` names the offending field in dotted form, e.g. ``regimen[1].dose``.
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")
