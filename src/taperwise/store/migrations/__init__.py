"""Alembic migrations of the clinical store, shipped inside the package (no alembic.ini at run time)."""
