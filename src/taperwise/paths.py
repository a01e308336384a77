"""Where the files that travel together live: an output and the files written beside it."""

from __future__ import annotations

from pathlib import Path


def sibling(path: Path, part: str, suffix: str | None = None) -> Path:
    """``out/rx.parquet`` → ``out/rx.patients.parquet``."""
    return path.with_name(f"{path.stem}.{part}{suffix or path.suffix}")
