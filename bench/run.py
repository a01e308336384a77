"""`make bench`: segments at several sizes, taperwise against baselines in the same run, as ratios.

Sizes come from BENCH_SIZES (default "100000,1000000"); the pandas day-per-row baseline is skipped above
BENCH_PANDAS_MAX (default 1,000,000) because it needs memory in proportion to days covered. Each approach
runs in its own process so that peak memory (max RSS) is its own. Results are printed as a Markdown table
and written to bench/results/ for docs/benchmarks.md.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

from bench.data import make_prescriptions

console = Console()
APPROACHES = ("taperwise_pipeline", "taperwise_sweep", "duckdb_sql", "pandas_days")


def _run(approach: str, source: Path, counted: Path) -> tuple[float, float, int]:
    out = (
        subprocess.run(
            [sys.executable, "-m", "bench.approaches", approach, str(source), str(counted)],
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    _, seconds, peak, segments, _ = out.split("\t")
    return float(seconds), float(peak), int(segments)


def main() -> None:
    sizes = [int(s) for s in os.environ.get("BENCH_SIZES", "100000,1000000").split(",")]
    pandas_max = int(os.environ.get("BENCH_PANDAS_MAX", "1000000"))
    lines = [
        f"Machine: {platform.node()} — {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}; run {dt.datetime.now():%Y-%m-%d %H:%M}",
        "",
        "| prescriptions | approach | seconds | peak MB | segments | time ÷ hand-written SQL |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory() as tmp, Progress(console=console) as progress:
        task = progress.add_task("benchmarks", total=len(sizes) * (len(APPROACHES) + 1))
        for n in sizes:
            source = make_prescriptions(n, Path(tmp) / f"rx-{n}.parquet")
            counted = Path(tmp) / f"counted-{n}.parquet"
            _run("prepare", source, counted)
            progress.advance(task)
            results = {}
            for approach in APPROACHES:
                if approach == "pandas_days" and n > pandas_max:
                    progress.advance(task)
                    continue
                results[approach] = _run(approach, source, counted)
                progress.advance(task)
            baseline = results["duckdb_sql"][0]
            counts = {r[2] for r in results.values()}
            if len(counts) != 1:
                console.print(f"[red]approaches disagree on segment count at {n}: {results}")
            for approach, (seconds, peak, segments) in results.items():
                cells = [
                    f"{n:,}",
                    approach,
                    f"{seconds:.2f}",
                    f"{peak:.0f}",
                    f"{segments:,}",
                    f"{seconds / baseline:.2f}×",
                ]
                lines.append("| " + " | ".join(cells) + " |")
    report = "\n".join(lines)
    console.print(report)
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"segments-{dt.datetime.now():%Y%m%d-%H%M}.md").write_text(report + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
