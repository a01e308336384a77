"""Benchmarks: `make bench` (python -m bench.run). Not part of the test suite."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def write_result(kind: str, text: str) -> Path:
    """A benchmark's Markdown result in BENCH_RESULTS (default bench/results), named by kind and time."""
    out = Path(os.environ.get("BENCH_RESULTS", ROOT / "bench" / "results"))
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{kind}-{dt.datetime.now():%Y%m%d-%H%M}.md"
    path.write_text(text + "\n", encoding="utf-8")
    return path
