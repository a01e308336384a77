"""Signed-in sessions kept in the store, so that they can be ended before they expire.

A browser holds a random token (in its signed cookie); the store keeps the token's SHA-256 with the user,
the session's CSRF token and its times. A session is live until it is ended (sign-out, "sign out
everywhere", deactivation, a new sign-in from the same browser) or passes a limit — OWASP ASVS 4.0.3
V3.3.2 (level 2): 30 minutes idle, 12 hours at most, whatever the activity. Ended sessions stay, with
when and why (nothing in the clinical record is deleted); each end is audited.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from taperwise.store.audit import record_audit
from taperwise.store.models import User, UserSession, utc_now
from taperwise.store.security import printable

IDLE_TIMEOUT = dt.timedelta(minutes=30)  # ASVS V3.3.2 (L2)
ABSOLUTE_TIMEOUT = dt.timedelta(hours=12)  # ASVS V3.3.2 (L2)
TOUCH_EVERY = dt.timedelta(seconds=60)  # last_seen_at is written at most this often, not on every request
TOKEN_BYTES = 32
END_REASONS = ("signed_out", "signed_out_everywhere", "deactivated", "idle", "expired", "replaced")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start_session(
    s: Session, user: User, csrf_token: str, ip: str | None, user_agent: str | None
) -> tuple[str, UserSession]:
    """A new live session for `user`: (the token for the cookie, its row). Only the hash is stored."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = utc_now()
    row = UserSession(
        token_hash=token_hash(token),
        user_id=user.id,
        csrf_token=csrf_token,
        last_seen_at=now,
        expires_at=now + ABSOLUTE_TIMEOUT,
        ip=None if ip is None else printable(ip, 64),
        user_agent=None if user_agent is None else printable(user_agent),
        created_at=now,
    )
    s.add(row)
    s.flush()
    return token, row


def _end(row: UserSession, reason: str, now: dt.datetime) -> None:
    row.ended_at = now
    row.end_reason = reason


def live_session(s: Session, token: str, now: dt.datetime | None = None) -> UserSession | None:
    """The live session of `token`, its idle clock moved on; None when unknown, ended or past a limit (a
    session found past its limit is ended here, with the limit as the reason)."""
    now = now or utc_now()
    row = s.scalar(select(UserSession).where(UserSession.token_hash == token_hash(token)))
    if row is None or row.ended_at is not None:
        return None
    if now >= row.expires_at:
        _end(row, "expired", now)
        return None
    if now - row.last_seen_at > IDLE_TIMEOUT:
        _end(row, "idle", now)
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
    return row


def end_session(
    s: Session, token: str, reason: str, user: User | None, ip: str | None, user_agent: str | None
) -> bool:
    """End the session of `token` (audited as `logout`); False when it was not live."""
    row = s.scalar(select(UserSession).where(UserSession.token_hash == token_hash(token)))
    if row is None or row.ended_at is not None:
        return False
    _end(row, reason, utc_now())
    record_audit(s, user, "logout", "session", row.id, ip, user_agent, reason)
    return True


def end_user_sessions(
    s: Session, user: User, reason: str, by: User | None, ip: str | None = None, user_agent: str | None = None
) -> int:
    """End every live session of `user` (sign out everywhere, deactivation); returns how many ended."""
    now = utc_now()
    rows = s.scalars(
        select(UserSession).where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
    )
    ended = 0
    for row in rows:
        _end(row, reason, now)
        ended += 1
    record_audit(s, by, "logout", "user", user.id, ip, user_agent, f"{reason}: {ended} session(s) ended")
    return ended


def live_sessions(s: Session, user: User, now: dt.datetime | None = None) -> list[UserSession]:
    """The user's sessions that are live now (for the account page and `users list`)."""
    now = now or utc_now()
    rows = s.scalars(
        select(UserSession)
        .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None), UserSession.expires_at > now)
        .order_by(UserSession.last_seen_at.desc())
    )
    return [row for row in rows if now - row.last_seen_at <= IDLE_TIMEOUT]
