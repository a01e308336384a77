"""The publish benchmark runs end to end at a small size and writes its result (bench/publish.py).

The run itself times nothing here: it checks that both approaches load the same rows on both stores and
that the report says so. PostgreSQL is the test server at 127.0.0.1:5432 (the benchmark makes and drops
its own databases).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg

from tests.dbs import PG_ADMIN

ROOT = Path(__file__).resolve().parents[1]


def test_the_publish_benchmark_runs_and_writes_its_result(tmp_path: Path) -> None:
    results = tmp_path / "results"
    env = os.environ | {
        "BENCH_PUBLISH_SIZES": "20000",
        "BENCH_PUBLISH_STORES": "sqlite,postgresql",
        "BENCH_PUBLISH_PG": PG_ADMIN,
        "BENCH_PUBLISH_TMP": str(tmp_path),
        "BENCH_RESULTS": str(results),
    }
    completed = subprocess.run(
        [sys.executable, "-m", "bench.publish"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    [report] = results.glob("publish-*.md")
    rows = [
        line.strip("| ").split(" | ")
        for line in report.read_text(encoding="utf-8").splitlines()
        if "| 20,000 |" in line
    ]
    assert {(cells[2], cells[3]) for cells in rows} == {
        (store, approach)
        for store in ("sqlite", "postgresql")
        for approach in ("bulk_load", "taperwise_publish")
    }
    assert {cells[6] for cells in rows} == {"42,000"}  # 2,000 entries, 20,000 segments, 20,000 prescriptions
    assert all(cells[8].endswith("×") for cells in rows)
    assert [p.name for p in tmp_path.iterdir()] == ["results"], "the run leaves its files behind"
    [prefix] = re.findall(r"databases (taperwise_bench_\w+?)_\*", completed.stderr)
    with psycopg.connect(PG_ADMIN) as admin:
        left = admin.execute("SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (prefix,))
        assert left.fetchall() == [], "the run leaves its databases behind"
