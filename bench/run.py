"""`make bench`: per-row MME, segments, the sweep and the registry at several sizes and shapes
(bench/shapes.py), taperwise against a hand-written DuckDB SQL baseline in the same run.

Shapes come from BENCH_SHAPES (default "dense,sparse,products,codes"): per-row MME and segments run on
each, the sweep alone and the registry on the dense one. Above BENCH_FULL_MAX prescriptions (default
20,000,000) only the registry runs, on the dense shape (the 100M scale run is opt-in: BENCH_SIZES=100000000,
with TAPERWISE_DUCKDB_MEMORY=8GB to cap DuckDB). Each task's approaches must give the same number of result
rows, or the run stops: approaches that disagree measure nothing.

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
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

from bench.shapes import SHAPES, describe, make_shape
from taperwise.synth.generator import SynthOptions
from taperwise.synth.run import synthesize

console = Console()
PRESCRIPTIONS_PER_PATIENT = 10.6  # measured on the generator's default mix
# (task, its baseline, the approaches run): the baseline is the hand-written DuckDB SQL for that task.
TASKS = (
    ("mme", "sql_mme", ("taperwise_mme", "sql_mme")),
    ("segments", "sql_factor_sweep", ("taperwise_segments", "sql_factor_sweep")),
    ("sweep", "sql_segments", ("taperwise_sweep", "sql_segments", "pandas_segments")),
    (
        "registry",
        "sql_registry",
        ("taperwise_registry", "sql_registry", "pandas_registry", "taperwise_registry_spark"),
    ),
)
SHAPED_TASKS = ("mme", "segments")  # measured on every shape; the others on the dense one


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


def _cells(
    rows: int, shape: str, label: str, approach: str, result: tuple[float, float, int], baseline: float
) -> str:
    seconds, peak, count = result
    cells = [f"{rows:,}", shape, label, approach, f"{seconds:.2f}", f"{peak:.0f}", f"{count:,}"]
    return "| " + " | ".join([*cells, f"{seconds / baseline:.2f}×"]) + " |"


@dataclass(frozen=True)
class Limits:
    """Which baselines run at which size (see the module's docstring)."""

    pandas_max: int = 5_000_000
    spark_max: int = 1_000_000
    pandas_cap_gb: float = 18.0

    @classmethod
    def from_environment(cls) -> Limits:
        return cls(
            int(os.environ.get("BENCH_PANDAS_MAX", "5000000")),
            int(os.environ.get("BENCH_SPARK_MAX", "1000000")),
            float(os.environ.get("BENCH_PANDAS_MEMORY_GB", "18")),
        )


def synthetic(n: int, folder: Path) -> Path:
    """About `n` synthetic prescriptions (seed 1, no malformed rows) as Parquet in `folder`."""
    dense = folder / f"rx-{n}.parquet"
    options = SynthOptions(patients=int(n / PRESCRIPTIONS_PER_PATIENT), seed=1, malformed=False)
    synthesize(options, "csv", dense)
    return dense


def measure_task(
    approaches: tuple[str, ...],
    source: Path,
    counted: Path,
    n: int,
    limits: Limits,
    advance: Callable[[], None],
) -> tuple[dict[str, tuple[float, float, int]], dict[str, OutOfMemory]]:
    """Each approach of one task on one file, in its own process: (seconds, peak MB, result rows) each, and
    the baselines that ran out of memory. Stops the run when the approaches disagree on the result."""
    results: dict[str, tuple[float, float, int]] = {}
    failed: dict[str, OutOfMemory] = {}
    for approach in approaches:
        advance()
        if approach.startswith("pandas") and n > limits.pandas_max:
            continue
        if approach.endswith("_spark") and n > limits.spark_max:
            continue
        cap = limits.pandas_cap_gb if approach.startswith("pandas") else None
        try:
            results[approach] = (
                _spark_run(source) if approach.endswith("_spark") else _run(approach, source, counted, cap)
            )
        except OutOfMemory as exc:
            failed[approach] = exc
    counts = {approach: result[2] for approach, result in results.items()}
    if len(set(counts.values())) > 1:  # approaches that disagree measure nothing
        raise SystemExit(f"{source.name}: the approaches' results differ: {counts}")
    return results, failed


def machine_line() -> str:
    return (
        f"Machine: {platform.node()} — {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}; run {dt.datetime.now():%Y-%m-%d %H:%M}"
    )


TABLE_HEAD = [
    "| prescriptions | shape | task | approach | seconds | peak MB | result rows | time ÷ baseline |",
    "|---:|---|---|---|---:|---:|---:|---:|",
]


def main() -> None:
    sizes = [int(s) for s in os.environ.get("BENCH_SIZES", "1000000,5000000").split(",")]
    shapes = [s.strip() for s in os.environ.get("BENCH_SHAPES", ",".join(SHAPES)).split(",") if s.strip()]
    unknown = [s for s in shapes if s not in SHAPES]
    if unknown:
        raise SystemExit(
            f"BENCH_SHAPES: unknown shape(s) {', '.join(unknown)}; choose from {', '.join(SHAPES)}"
        )
    limits = Limits.from_environment()
    # Above BENCH_FULL_MAX prescriptions only the registry runs, on the dense shape: the scale test.
    full_max = int(os.environ.get("BENCH_FULL_MAX", "20000000"))

    def plan(n: int) -> list[tuple[str, list[tuple[str, str, tuple[str, ...]]]]]:
        """(shape, its tasks) at size n."""
        if n > full_max:
            return [("dense", [t for t in TASKS if t[0] == "registry"])]
        return [(shape, [t for t in TASKS if shape == "dense" or t[0] in SHAPED_TASKS]) for shape in shapes]

    lines = [machine_line(), "", *TABLE_HEAD]
    steps = sum(1 + len(a) for n in sizes for _, tasks in plan(n) for _, _, a in tasks)
    with tempfile.TemporaryDirectory() as tmp, Progress(console=console) as progress:
        task = progress.add_task("benchmarks", total=steps)
        for n in sizes:
            dense = synthetic(n, Path(tmp))
            for shape, tasks in plan(n):
                source = make_shape(shape, dense, Path(tmp) / f"rx-{n}-{shape}.parquet")
                rows, patients, products = describe(source)
                console.print(
                    f"{shape}: {rows:,} prescriptions, {patients:,} patients, {products:,} products"
                )
                counted = Path(tmp) / f"counted-{n}-{shape}.parquet"
                _run("prepare", source, counted)
                progress.advance(task)
                for label, baseline_name, approaches in tasks:
                    results, failed = measure_task(
                        approaches, source, counted, n, limits, lambda: progress.advance(task)
                    )
                    baseline = results[baseline_name][0]
                    lines += [_cells(rows, shape, label, a, r, baseline) for a, r in results.items()]
                    for approach, exc in failed.items():
                        cells = [f"{rows:,}", shape, label, approach, f"> {exc.seconds:.0f}"]
                        cells += [f"> {exc.cap_gb * 1024:.0f}", str(exc), "—"]
                        lines.append("| " + " | ".join(cells) + " |")
    report = "\n".join(lines)
    console.print(report)
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"bench-{dt.datetime.now():%Y%m%d-%H%M}.md").write_text(report + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
