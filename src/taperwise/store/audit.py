"""The audit log: who viewed or changed which record, when, and from where.

Rows are only ever added (the database refuses UPDATE and DELETE on `audit_events`). An event is added
to the caller's session, so it commits or rolls back together with the work it describes.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from taperwise.errors import RequestValidationError
from taperwise.store.models import AUDIT_ACTIONS, AuditEvent, User
from taperwise.store.security import printable

SYSTEM = "system"  # the username of events with no signed-in user (command line, publishing jobs)


def record_audit(
    s: Session,
    user: User | None,
    action: str,
    entity_type: str,
    entity_id: object,
    ip: str | None,
    user_agent: str | None,
    detail: str = "",
    *,
    organisation_id: int | None = None,
    username: str | None = None,
) -> AuditEvent:
    """Add one audit event to the session's transaction and flush it (so it gets its id now)."""
    if action not in AUDIT_ACTIONS:
        raise RequestValidationError(
            "action", f"{action!r} is not an audit action ({', '.join(AUDIT_ACTIONS)})"
        )
    name = username if username is not None else (user.username if user is not None else SYSTEM)
    event = AuditEvent(
        user_id=None if user is None else user.id,
        username=printable(name, 100),
        action=action,
        entity_type=entity_type,
        entity_id=None if entity_id is None else printable(str(entity_id), 128),
        organisation_id=organisation_id,
        ip=None if ip is None else printable(ip, 64),
        user_agent=None if user_agent is None else printable(user_agent),
        detail=printable(detail, 4000),
    )
    s.add(event)
    s.flush()
    return event
