"""Users, organisations and signing in: argon2 hashes, soft lock-out, every attempt audited."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from taperwise.errors import RequestValidationError
from taperwise.roles import ROLES
from taperwise.store.audit import record_audit
from taperwise.store.models import (
    ORGANISATION_KINDS,
    AuditEvent,
    Membership,
    Organisation,
    User,
    utc_now,
)
from taperwise.store.security import (
    ADDRESS_WINDOW,
    LOCKOUT,
    MAX_FAILED_LOGINS,
    MAX_FAILED_PER_ADDRESS,
    burn_verification,
    check_password_strength,
    hash_password,
    reject_nul,
    verify_password,
)
from taperwise.store.sessions import end_user_sessions


def ensure_organisation(
    s: Session, code: str, name: str | None = None, kind: str = "practice"
) -> Organisation:
    """The organisation with `code`, created (and audited) when it does not exist yet."""
    reject_nul("organisation.code", code)
    if not code.strip():
        raise RequestValidationError("organisation.code", "is empty")
    if kind not in ORGANISATION_KINDS:
        raise RequestValidationError(
            "organisation.kind", f"{kind!r} is not one of {', '.join(ORGANISATION_KINDS)}"
        )
    found = s.scalar(select(Organisation).where(Organisation.code == code))
    if found is not None:
        return found
    organisation = Organisation(code=code, name=name or code, kind=kind)
    s.add(organisation)
    s.flush()
    record_audit(s, None, "create", "organisation", organisation.id, None, None, f"code={code}",
                 organisation_id=organisation.id)  # fmt: skip
    return organisation


def create_user(
    s: Session,
    username: str,
    password: str,
    role: str,
    specialty: str | None = None,
    organisations: Iterable[str] = (),
    *,
    display_name: str | None = None,
    created_by: User | None = None,
) -> User:
    """A new active user, a member of the organisations with the given codes (created when missing)."""
    reject_nul("username", username)
    if not username.strip() or username != username.strip():
        raise RequestValidationError("username", "must be non-empty with no leading or trailing spaces")
    if role not in ROLES:
        raise RequestValidationError("role", f"{role!r} is not one of {', '.join(ROLES)}")
    organisations = list(organisations)  # read twice: for the password's context and the memberships
    names = (username, display_name or "", *organisations)
    check_password_strength(password, [*names, *(part for name in names for part in re.split(r"\W+", name))])
    if s.scalar(select(User.id).where(User.username == username)) is not None:
        raise RequestValidationError("username", f"{username!r} is taken; choose another")
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password),
        role=role,
        specialty=specialty,
        active=True,
        failed_logins=0,
    )
    s.add(user)
    s.flush()
    codes = list(dict.fromkeys(organisations))
    for code in codes:
        s.add(Membership(user_id=user.id, organisation_id=ensure_organisation(s, code).id))
    s.flush()
    record_audit(s, created_by, "create", "user", user.id, None, None,
                 f"username={username} role={role} organisations={','.join(codes)}")  # fmt: skip
    return user


def get_user(s: Session, user_id: int) -> User | None:
    return s.get(User, user_id)


def get_user_by_name(s: Session, username: str) -> User | None:
    if "\x00" in username:
        return None
    return s.scalar(select(User).where(User.username == username))


def list_users(s: Session) -> list[tuple[User, list[str]]]:
    """Every user with the codes of their organisations, by username."""
    users = s.scalars(select(User).order_by(User.username)).all()
    pairs = s.execute(
        select(Membership.user_id, Organisation.code).join(
            Organisation, Organisation.id == Membership.organisation_id
        )
    ).all()
    codes: dict[int, list[str]] = {}
    for user_id, code in pairs:
        codes.setdefault(user_id, []).append(code)
    return [(user, sorted(codes.get(user.id, []))) for user in users]


def is_locked(user: User, now: dt.datetime | None = None) -> bool:
    return user.locked_until is not None and user.locked_until > (now or utc_now())


def address_throttled(s: Session, ip: str | None, now: dt.datetime | None = None) -> bool:
    """Has this client address failed to sign in MAX_FAILED_PER_ADDRESS times within ADDRESS_WINDOW?"""
    if ip is None:
        return False
    since = (now or utc_now()) - ADDRESS_WINDOW
    failures = s.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.ip == ip, AuditEvent.at >= since, AuditEvent.action == "login_failed")
    )
    return (failures or 0) >= MAX_FAILED_PER_ADDRESS


def authenticate(
    s: Session, username: str, password: str, ip: str | None, user_agent: str | None
) -> User | None:
    """The user when `password` is theirs and the account is active and unlocked; None otherwise.

    Every attempt is audited (`login` or `login_failed` with the reason). After MAX_FAILED_LOGINS
    failures in a row the account locks for LOCKOUT; while locked, even the right password is refused.
    A client address with MAX_FAILED_PER_ADDRESS failures in ADDRESS_WINDOW is refused before any
    password is checked (`address_throttled`). The caller tells none of these apart to the user.
    """
    now = utc_now()
    if address_throttled(s, ip, now):
        burn_verification(password)
        reason = f"client address throttled after {MAX_FAILED_PER_ADDRESS} failures"
        record_audit(s, None, "login_failed", "user", None, ip, user_agent, reason, username=username)
        return None
    user = get_user_by_name(s, username)
    if user is None:
        burn_verification(password)
        record_audit(
            s, None, "login_failed", "user", None, ip, user_agent, "unknown username", username=username
        )
        return None
    if not user.active:
        burn_verification(password)
        record_audit(s, user, "login_failed", "user", user.id, ip, user_agent, "account deactivated")
        return None
    if is_locked(user, now):
        burn_verification(password)
        record_audit(s, user, "login_failed", "user", user.id, ip, user_agent,
                     f"account locked until {user.locked_until:%Y-%m-%d %H:%M} UTC")  # fmt: skip
        return None
    matches, fresher_hash = verify_password(password, user.password_hash)
    if not matches:
        user.failed_logins += 1
        detail = f"wrong password ({user.failed_logins} in a row)"
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + LOCKOUT
            user.failed_logins = 0  # after the lock lifts the count starts again
            detail += f"; locked for {int(LOCKOUT.total_seconds() // 60)} minutes"
        record_audit(s, user, "login_failed", "user", user.id, ip, user_agent, detail)
        return None
    if fresher_hash is not None:
        user.password_hash = fresher_hash
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    record_audit(s, user, "login", "user", user.id, ip, user_agent)
    return user


def deactivate_user(s: Session, username: str, by: User | None = None) -> User:
    """Deactivate an account (never deleted: its audit trail and records stay) and end its sessions now."""
    user = get_user_by_name(s, username)
    if user is None:
        raise RequestValidationError("username", f"no user called {username!r}")
    user.active = False
    record_audit(s, by, "update", "user", user.id, None, None, "deactivated")
    end_user_sessions(s, user, "deactivated", by)
    return user


def unlock_user(s: Session, username: str, by: User | None = None) -> User:
    """Lift a lock-out now (an admin's decision, audited)."""
    user = get_user_by_name(s, username)
    if user is None:
        raise RequestValidationError("username", f"no user called {username!r}")
    user.failed_logins = 0
    user.locked_until = None
    record_audit(s, by, "update", "user", user.id, None, None, "unlocked")
    return user
