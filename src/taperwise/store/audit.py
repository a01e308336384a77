"""The audit log: who viewed or changed which record, when, and from where — tamper-evident.

Rows are only ever added: the database refuses UPDATE and DELETE on `audit_events` (and, on SQLite, an
INSERT OR REPLACE). An event is recorded in the caller's session, so it commits or rolls back together
with the work it describes; it is written when that transaction commits (`seal`), where it takes its
place in the hash chain:

- `seq` numbers the rows 1, 2, 3 … without gaps;
- `prev_hash` is the previous row's `row_hash` (64 zeros before the first row);
- `row_hash` is the SHA-256 of `prev_hash`, `seq` and the row's values, in one fixed text form.

Writers take the chain's head (the one row of `audit_chain`) with an UPDATE first, which holds its row lock
on PostgreSQL and SQLite's write lock until commit, so two transactions never continue from the same link.
`verify_chain` (`taperwise audit verify`) recomputes every hash and names the first row that does not fit:
a changed value, a row removed from the middle or the end, a row inserted with a forged link.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session, sessionmaker

from taperwise.errors import RequestValidationError
from taperwise.store.models import AUDIT_ACTIONS, AuditChain, AuditEvent, User, utc_now
from taperwise.store.security import printable

SYSTEM = "system"  # the username of events with no signed-in user (command line, publishing jobs)
GENESIS = "0" * 64  # the link before the first row
PENDING = "taperwise.audit.pending"  # Session.info key: events recorded, written at commit
# The values a row's hash covers, in this order (its store id is not among them: seq is its place).
CHAINED = ("at", "user_id", "username", "action", "entity_type", "entity_id", "organisation_id", "ip",
           "user_agent", "detail")  # fmt: skip
VERIFY_BATCH = 5_000


def _moment(value: Any) -> str:
    """`at` in one text form whatever the driver returned: naive UTC, microseconds."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if not isinstance(value, dt.datetime):
        raise TypeError(f"audit time {value!r} is not a date and time")
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return str(value.strftime("%Y-%m-%dT%H:%M:%S.%f"))


def row_digest(prev_hash: str, seq: int, values: Mapping[str, Any]) -> str:
    """The row's hash: SHA-256 over the previous hash, its place and its values (CHAINED), as JSON.

    This text form is fixed for good: every row ever written is checked against it.
    """
    fields = [prev_hash, seq, *(_moment(values["at"]) if name == "at" else values[name] for name in CHAINED)]
    text = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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
    """Record one audit event in the session's transaction; it is written, chained, when that commits."""
    if action not in AUDIT_ACTIONS:
        raise RequestValidationError(
            "action", f"{action!r} is not an audit action ({', '.join(AUDIT_ACTIONS)})"
        )
    name = username if username is not None else (user.username if user is not None else SYSTEM)
    audit_event = AuditEvent(
        at=utc_now(),
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
    s.info.setdefault(PENDING, []).append(audit_event)
    return audit_event


def seal(s: Session) -> None:
    """Write the session's recorded events at the end of the chain (before_commit of every store session)."""
    pending: list[AuditEvent] = s.info.pop(PENDING, [])
    if not pending:
        return
    # The UPDATE comes first: it takes the head's lock (PostgreSQL's row lock, SQLite's write lock) before
    # the head is read, so no other transaction can continue from the same link until this one commits.
    s.execute(update(AuditChain).where(AuditChain.id == 1).values(last_seq=AuditChain.last_seq))
    seq, previous = s.execute(
        select(AuditChain.last_seq, AuditChain.last_hash).where(AuditChain.id == 1)
    ).one()
    for audit_event in pending:
        seq += 1
        values = {name: getattr(audit_event, name) for name in CHAINED}
        audit_event.seq, audit_event.prev_hash = seq, previous
        audit_event.row_hash = previous = row_digest(previous, seq, values)
    s.add_all(pending)
    s.execute(update(AuditChain).where(AuditChain.id == 1).values(last_seq=seq, last_hash=previous))
    s.flush()


def _head(s: Session) -> Any:
    return s.execute(select(AuditChain.last_seq, AuditChain.last_hash).where(AuditChain.id == 1))


def discard_pending(s: Session) -> None:
    """A rolled-back transaction records nothing: its events go with it."""
    s.info.pop(PENDING, None)


def install(sessions: sessionmaker[Session]) -> None:
    """Seal recorded events when each session of `sessions` commits; drop them when it rolls back."""
    event.listen(sessions, "before_commit", seal)
    event.listen(sessions, "after_rollback", discard_pending)


def pending_events(s: Session) -> list[AuditEvent]:
    """Events recorded in this transaction and not yet written (for tests and the web layer's checks)."""
    return list(s.info.get(PENDING, []))


@dataclass(frozen=True)
class ChainReport:
    """The result of checking the chain: `problem` is None when every row fits."""

    rows: int
    last_seq: int
    last_hash: str
    broken_id: int | None = None
    broken_seq: int | None = None
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.problem is None


def verify_chain(s: Session, batch: int = VERIFY_BATCH) -> ChainReport:
    """Walk the log in `seq` order, `batch` rows at a time, recomputing each hash; stop at the first break."""
    table = AuditEvent.__table__
    columns = [table.c.id, table.c.seq, table.c.prev_hash, table.c.row_hash, *(table.c[n] for n in CHAINED)]
    unplaced = s.scalar(select(table.c.id).where(table.c.seq.is_(None)).order_by(table.c.id).limit(1))
    if unplaced is not None:
        return ChainReport(0, 0, GENESIS, unplaced, None,
                           f"audit row id {unplaced} has no place in the chain (seq is empty): it was added "
                           "outside taperwise")  # fmt: skip
    expected, previous, rows = 1, GENESIS, 0
    while True:
        chunk = s.execute(select(*columns).where(table.c.seq >= expected).order_by(table.c.seq).limit(batch))
        fetched = chunk.mappings().all()
        for row in fetched:
            broken = _check(row, expected, previous)
            if broken is not None:
                return ChainReport(rows, expected - 1, previous, row["id"], row["seq"], broken)
            previous, expected, rows = row["row_hash"], expected + 1, rows + 1
        if len(fetched) < batch:
            break
    head = s.execute(
        select(AuditChain.last_seq, AuditChain.last_hash).where(AuditChain.id == 1)
    ).one_or_none()
    if head is None:
        return ChainReport(
            rows, expected - 1, previous, None, None, "the chain's head (audit_chain) is missing"
        )
    if (head.last_seq, head.last_hash) != (expected - 1, previous):
        return ChainReport(rows, expected - 1, previous, None, head.last_seq,
                           f"the chain's head is at seq {head.last_seq}, the log ends at seq {expected - 1}: "
                           "rows at the end were removed, or the head was changed")  # fmt: skip
    return ChainReport(rows, expected - 1, previous)


def _check(row: Any, expected: int, previous: str) -> str | None:
    if row["seq"] != expected:
        return f"seq {expected} is missing (the next row is seq {row['seq']}): rows were removed"
    if row["prev_hash"] != previous:
        return f"its link (prev_hash) is not the hash of seq {expected - 1}: a row was removed or inserted"
    if row["row_hash"] != row_digest(previous, expected, row):
        return "its values do not match its hash: the row was changed"
    return None
