"""The clinical store: organisations, users, the registry snapshots the app shows, and the audit log.

SQLAlchemy 2 on SQLite (default) or PostgreSQL; migrations applied on open. See docs/store.md.
"""

from taperwise.store.db import Store, open_store

__all__ = ["Store", "open_store"]
