"""`make bench`: segments and registry at several sizes, taperwise against baselines in the same run.

Sizes (prescriptions, approximately: the generator makes whole patients) come from BENCH_SIZES (default
"1000000,5000000"); the pandas day-per-row baselines are skipped above BENCH_PANDAS_MAX (default 5,000,000)
because they need memory in proportion to days covered, and run under a memory cap of
BENCH_PANDAS_MEMORY_GB (default 18): past it they are reported as out of memory. BENCH_SPARK_MAX
(default 1,000,000) bounds the Spark run. Each approach runs in its own process so that peak memory
(max RSS) is its own. Results are printed as Markdown and written to bench/results/ for
docs/benchmarks.md.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

from taperwise.synth.generator import SynthOptions
from taperwise.synth.run import synthesize

console = Console()
PRESCRIPTIONS_PER_PATIENT = 10.6  # measured on the generator's default mix
PAIRS = (
    ("segments", ("taperwise_segments", "taperwise_sweep", "sql_segments", "pandas_segments")),
    ("registry", ("taperwise_registry", "sql_registry", "pandas_registry")),
)


class OutOfMemory(Exception):
    """A baseline that needs more memory than the cap it was run under."""

    def __init__(self, seconds: float, cap_gb: float) -> None:
        super().__init__(f"out of memory under a {cap_gb:g} GB cap after {seconds:.0f} s")
        self.seconds = seconds
        self.cap_gb = cap_gb


def _memory_cap(gigabytes: float) -> Callable[[], None]:
    def apply() -> None:
        limit = int(gigabytes * 1024**3)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def _run(approach: str, source: Path, counted: Path, cap_gb: float | None = None) -> tuple[float, float, int]:
    began = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "bench.approaches", approach, str(source), str(counted)],
        capture_output=True,
        text=True,
        preexec_fn=None if cap_gb is None else _memory_cap(cap_gb),
    )
    if completed.returncode != 0:
        if cap_gb is not None and "MemoryError" in completed.stderr:
            raise OutOfMemory(time.perf_counter() - began, cap_gb)
        console.print(completed.stderr[-3000:])
        raise SystemExit(f"benchmark {approach} failed on {source.name}")
    _, seconds, peak, result = completed.stdout.strip().splitlines()[-1].split("\t")
    return float(seconds), float(peak), int(result)


def _spark_run(source: Path) -> tuple[float, float, int]:
    completed = subprocess.run(
        [sys.executable, "-m", "bench.spark_registry", str(source)],
        check=True,
        capture_output=True,
        text=True,
    )
    _, seconds, peak, result = completed.stdout.strip().splitlines()[-1].split("\t")
    return float(seconds), float(peak), int(result)


def main() -> None:
    sizes = [int(s) for s in os.environ.get("BENCH_SIZES", "1000000,5000000").split(",")]
    pandas_max = int(os.environ.get("BENCH_PANDAS_MAX", "5000000"))
    spark_max = int(os.environ.get("BENCH_SPARK_MAX", "1000000"))
    # The day-per-row baselines run under a memory cap, so that one too big for the machine fails
    # with a MemoryError (reported) instead of pushing everything else into swap.
    pandas_cap = float(os.environ.get("BENCH_PANDAS_MEMORY_GB", "18"))
    failed: dict[tuple[str, str], OutOfMemory] = {}
    lines = [
        f"Machine: {platform.node()} — {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}; run {dt.datetime.now():%Y-%m-%d %H:%M}",
        "",
        "| prescriptions | task | approach | seconds | peak MB | result rows | time ÷ hand-written SQL |",
        "|---:|---|---|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory() as tmp, Progress(console=console) as progress:
        task = progress.add_task("benchmarks", total=len(sizes) * 9)
        for n in sizes:
            source = Path(tmp) / f"rx-{n}.parquet"
            summary = synthesize(
                SynthOptions(patients=int(n / PRESCRIPTIONS_PER_PATIENT), seed=1, malformed=False),
                "csv",
                source,
            )
            rows = summary.prescriptions
            counted = Path(tmp) / f"counted-{n}.parquet"
            _run("prepare", source, counted)
            progress.advance(task)
            for label, approaches in PAIRS:
                results = {}
                for approach in approaches:
                    if approach.startswith("pandas") and n > pandas_max:
                        progress.advance(task)
                        continue
                    cap = pandas_cap if approach.startswith("pandas") else None
                    try:
                        results[approach] = _run(approach, source, counted, cap)
                    except OutOfMemory as exc:
                        failed[(label, approach)] = exc
                    progress.advance(task)
                if label == "registry" and n <= spark_max:
                    results["taperwise_registry_spark"] = _spark_run(source)
                progress.advance(task)
                baseline = results[f"sql_{label}"][0]
                for approach, (seconds, peak, result) in results.items():
                    cells = [f"{rows:,}", label, approach, f"{seconds:.2f}", f"{peak:.0f}", f"{result:,}"]
                    cells.append(f"{seconds / baseline:.2f}×")
                    lines.append("| " + " | ".join(cells) + " |")
                for (task_label, approach), exc in failed.items():
                    if task_label == label:
                        cells = [
                            f"{rows:,}",
                            label,
                            approach,
                            f"> {exc.seconds:.0f}",
                            f"> {exc.cap_gb * 1024:.0f}",
                        ]
                        cells += [str(exc), "—"]
                        lines.append("| " + " | ".join(cells) + " |")
                failed.clear()
    report = "\n".join(lines)
    console.print(report)
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"bench-{dt.datetime.now():%Y%m%d-%H%M}.md").write_text(report + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
