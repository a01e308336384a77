"""Shared test configuration (warning filters live in pyproject.toml)."""
