"""A NUL byte never reaches PostgreSQL: it is refused with a message naming the field, on both engines."""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select

from taperwise.errors import RequestValidationError
from taperwise.store import Store
from taperwise.store import repositories as repo
from taperwise.store.models import AuditEvent, Organisation, utc_now
from tests.store.helpers import PASSWORD, add_user


def test_a_nul_byte_in_a_username_is_refused_naming_the_field(store: Store) -> None:
    with pytest.raises(RequestValidationError, match=r"username.*NUL"), store.session() as s:
        repo.create_user(s, "dr\x00evil", PASSWORD, "clinician")


def test_a_nul_byte_in_any_statement_is_refused_before_the_database_sees_it(store: Store) -> None:
    with pytest.raises(RequestValidationError, match="NUL"), store.session() as s:
        s.execute(
            insert(Organisation).values(code="ORG\x00", name="x", kind="practice", created_at=utc_now())
        )
    with pytest.raises(RequestValidationError, match="NUL"), store.session() as s:
        repo.create_user(s, "dr.ok", PASSWORD, "clinician", display_name="Dr \x00 Evil")
    with store.session() as s:  # the connection is still usable afterwards
        assert s.scalar(select(func.count()).select_from(Organisation)) == 0


def test_a_login_attempt_with_a_nul_byte_fails_and_is_audited_readably(store: Store) -> None:
    with store.session() as s:
        assert repo.authenticate(s, "admin\x00", PASSWORD, "203.0.113.9", "curl\x00") is None
    with store.session() as s:
        event = s.scalars(select(AuditEvent)).one()
    assert (event.action, event.username, event.user_agent) == ("login_failed", "admin\\x00", "curl\\x00")


def test_a_worklist_search_with_a_nul_byte_is_refused(store: Store) -> None:
    user = add_user(store, "dr.a", "clinician", "ORG-A")
    with pytest.raises(RequestValidationError, match="search"), store.session() as s:
        repo.worklist(s, user, search="S0\x00")
