"""Small builders shared by the store tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from taperwise.store import Store
from taperwise.store import repositories as repo
from taperwise.store.models import User

PASSWORD = "correct horse battery staple"


def publish_example(store: Store, files: dict[str, Path], org: str) -> int:
    """Publish the example registry for `org`; returns the snapshot id."""
    with store.session() as s:
        snapshot = repo.publish_registry(
            s,
            files["registry"],
            files["metadata"],
            files["segments"],
            files["mme"],
            None,
            org,
            prescriptions_path=files["prescriptions"],
        )
        return snapshot.id


def add_user(store: Store, username: str, role: str, *orgs: str) -> User:
    with store.session() as s:
        return repo.create_user(s, username, PASSWORD, role, organisations=orgs)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)
