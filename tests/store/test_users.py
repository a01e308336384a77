"""Accounts: argon2 hashes, lock-out after repeated failures, unlock, and every attempt audited."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from taperwise.errors import RequestValidationError
from taperwise.store import Store
from taperwise.store import repositories as repo
from taperwise.store.models import AuditEvent, User
from taperwise.store.security import LOCKOUT, MAX_FAILED_LOGINS, MIN_PASSWORD_LENGTH
from tests.store.helpers import PASSWORD, add_user


def _login(store: Store, username: str, password: str) -> User | None:
    with store.session() as s:
        return repo.authenticate(s, username, password, "192.0.2.7", "pytest-browser")


def _audit(store: Store, action: str) -> list[AuditEvent]:
    with store.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_passwords_are_stored_as_argon2id_hashes_never_as_text(store: Store) -> None:
    user = add_user(store, "dr.argon", "clinician", "ORG-A")
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    with store.session() as s:
        raw = s.scalars(select(AuditEvent.detail)).all()
    assert not any(PASSWORD in detail for detail in raw)
    assert _login(store, "dr.argon", PASSWORD) is not None


def test_a_short_password_is_refused(store: Store) -> None:
    with pytest.raises(RequestValidationError, match=str(MIN_PASSWORD_LENGTH)), store.session() as s:
        repo.create_user(s, "dr.short", "x" * (MIN_PASSWORD_LENGTH - 1), "clinician")


def test_an_unknown_role_is_refused_naming_the_roles(store: Store) -> None:
    with pytest.raises(RequestValidationError, match="analyst"), store.session() as s:
        repo.create_user(s, "dr.who", PASSWORD, "surgeon")


def test_successful_and_failed_logins_are_audited_with_address_and_agent(store: Store) -> None:
    add_user(store, "dr.audit", "clinician", "ORG-A")
    assert _login(store, "dr.audit", "wrong password!!") is None
    assert _login(store, "nobody", PASSWORD) is None
    user = _login(store, "dr.audit", PASSWORD)
    assert user is not None
    assert user.last_login_at is not None
    failed = _audit(store, "login_failed")
    assert [(e.username, e.ip, e.user_agent) for e in failed] == [
        ("dr.audit", "192.0.2.7", "pytest-browser"),
        ("nobody", "192.0.2.7", "pytest-browser"),
    ]
    assert failed[1].user_id is None
    assert "unknown" in failed[1].detail
    assert [e.user_id for e in _audit(store, "login")] == [user.id]


def test_an_account_locks_after_repeated_failures_and_then_refuses_the_right_password(store: Store) -> None:
    add_user(store, "dr.brute", "clinician", "ORG-A")
    for _ in range(MAX_FAILED_LOGINS):
        assert _login(store, "dr.brute", "guess guess guess") is None
    assert _login(store, "dr.brute", PASSWORD) is None
    with store.session() as s:
        user = repo.get_user_by_name(s, "dr.brute")
        assert user is not None
        assert repo.is_locked(user)
        assert user.locked_until is not None
        remaining = user.locked_until - dt.datetime.now(dt.UTC)
    assert LOCKOUT - dt.timedelta(minutes=1) < remaining <= LOCKOUT
    assert "locked" in _audit(store, "login_failed")[-1].detail


def test_fewer_failures_than_the_limit_do_not_lock_and_a_success_resets_the_count(store: Store) -> None:
    add_user(store, "dr.typo", "clinician", "ORG-A")
    for _ in range(MAX_FAILED_LOGINS - 1):
        _login(store, "dr.typo", "typo typo typo")
    assert _login(store, "dr.typo", PASSWORD) is not None
    for _ in range(MAX_FAILED_LOGINS - 1):
        _login(store, "dr.typo", "typo typo typo")
    assert _login(store, "dr.typo", PASSWORD) is not None


def test_a_lock_lifts_when_it_expires(store: Store) -> None:
    add_user(store, "dr.patient", "clinician", "ORG-A")
    for _ in range(MAX_FAILED_LOGINS):
        _login(store, "dr.patient", "guess guess guess")
    with store.session() as s:
        user = repo.get_user_by_name(s, "dr.patient")
        assert user is not None
        user.locked_until = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    assert _login(store, "dr.patient", PASSWORD) is not None


def test_unlock_lifts_a_lock_at_once_and_is_audited(store: Store) -> None:
    add_user(store, "dr.locked", "clinician", "ORG-A")
    for _ in range(MAX_FAILED_LOGINS):
        _login(store, "dr.locked", "guess guess guess")
    with store.session() as s:
        repo.unlock_user(s, "dr.locked")
    assert _login(store, "dr.locked", PASSWORD) is not None
    assert any(e.detail == "unlocked" for e in _audit(store, "update"))


def test_a_deactivated_account_cannot_sign_in(store: Store) -> None:
    add_user(store, "dr.gone", "clinician", "ORG-A")
    with store.session() as s:
        user = repo.get_user_by_name(s, "dr.gone")
        assert user is not None
        user.active = False
    assert _login(store, "dr.gone", PASSWORD) is None
    assert "deactivated" in _audit(store, "login_failed")[-1].detail


@pytest.mark.parametrize(
    ("password", "said"),
    [
        ("password12345", "too easy to guess"),
        ("qwertyuiop123", "too easy to guess"),
        ("Taperwise2026!", "contains 'taperwise'"),
        ("mercer-practice-9", "contains 'mercer'"),
    ],
)
def test_common_and_context_passwords_are_refused(store: Store, password: str, said: str) -> None:
    with pytest.raises(RequestValidationError, match=said), store.session() as s:
        repo.create_user(s, "dr.mercer", password, "clinician", organisations=["ORG-A"])


def test_a_passphrase_is_accepted(store: Store) -> None:
    with store.session() as s:
        repo.create_user(s, "dr.mercer", "amber kettle sunrise lantern", "clinician")
