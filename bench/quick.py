"""`make bench-quick`: a few minutes' check that no ratio of `make bench` has regressed.

The same approaches as `make bench` (bench/run.py) on a small synthetic export (BENCH_QUICK_SIZE
prescriptions, default 200,000) of every shape, per-row MME and segments, each run BENCH_QUICK_RUNS times
(default 3, interleaved, the median kept), and the start-up ratios of bench/startup.py. Each ratio (time
÷ its baseline in the same run) is compared with the committed one in bench/quick-baseline.json: the
check fails when a ratio is more than 20% above it (BENCH_QUICK_TOLERANCE, default 0.20). Ratios, not
seconds, so that the check means the same on a busier or a faster machine.

`make bench-quick-record` (BENCH_QUICK_RECORD=1) writes the ratios measured as the new committed figures;
record them after a change that is meant to move them, and say so in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from rich.console import Console

from bench.run import TASKS, _run, machine_line, synthetic
from bench.shapes import SHAPES, describe, make_shape
from bench.startup import measure

console = Console(stderr=True)
BASELINE_FILE = Path(__file__).resolve().parent / "quick-baseline.json"
QUICK_TASKS = ("mme", "segments")


def task_ratios(n: int, runs: int) -> dict[str, float]:
    """`shape/task` → median time of taperwise ÷ median time of its hand-written baseline."""
    ratios: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        dense = synthetic(n, Path(tmp))
        for shape in SHAPES:
            source = make_shape(shape, dense, Path(tmp) / f"rx-{shape}.parquet")
            counted = Path(tmp) / f"counted-{shape}.parquet"
            rows, _, products = describe(source)
            console.print(f"{shape}: {rows:,} prescriptions, {products:,} product texts")
            for label, baseline, approaches in TASKS:
                if label not in QUICK_TASKS:
                    continue
                times: dict[str, list[float]] = {a: [] for a in approaches}
                for _ in range(runs):
                    for approach in approaches:
                        times[approach].append(_run(approach, source, counted)[0])
                ours = next(a for a in approaches if a.startswith("taperwise"))
                ratios[f"{shape}/{label}"] = statistics.median(times[ours]) / statistics.median(
                    times[baseline]
                )
    return ratios


def startup_ratios(runs: int) -> dict[str, float]:
    results = measure(runs)
    medians = {label: seconds for label, seconds, _ in results}
    return {
        f"start-up/{label}": seconds / medians[reference]
        for label, seconds, reference in results
        if label != reference and label.startswith("taperwise")
    }


def compare(now: dict[str, float], committed: dict[str, float], tolerance: float) -> list[str]:
    """The lines of the report; a line starting with "REGRESSED" for each ratio above its allowance."""
    lines = []
    for key, ratio in sorted(now.items()):
        before = committed.get(key)
        if before is None:
            lines.append(f"new        {key}: {ratio:.2f}× (no committed figure)")
        elif ratio > before * (1 + tolerance):
            lines.append(
                f"REGRESSED  {key}: {ratio:.2f}× against {before:.2f}× committed (+{ratio / before - 1:.0%})"
            )
        else:
            lines.append(f"ok         {key}: {ratio:.2f}× against {before:.2f}× committed")
    return lines


def main() -> None:
    n = int(os.environ.get("BENCH_QUICK_SIZE", "200000"))
    runs = int(os.environ.get("BENCH_QUICK_RUNS", "3"))
    tolerance = float(os.environ.get("BENCH_QUICK_TOLERANCE", "0.20"))
    now = {**task_ratios(n, runs), **startup_ratios(max(runs, 5))}
    if os.environ.get("BENCH_QUICK_RECORD"):
        record = {"machine": machine_line(), "size": n, "runs": runs, "ratios": now}
        BASELINE_FILE.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        console.print(f"recorded {len(now)} ratios in {BASELINE_FILE}")
        return
    if not BASELINE_FILE.exists():
        raise SystemExit(f"{BASELINE_FILE} is missing: record the figures with make bench-quick-record")
    committed = json.loads(BASELINE_FILE.read_text(encoding="utf-8"))["ratios"]
    lines = compare(now, committed, tolerance)
    print("\n".join([machine_line(), *lines]))
    regressed = [line for line in lines if line.startswith("REGRESSED")]
    if regressed:
        console.print(f"{len(regressed)} ratio(s) regressed by more than {tolerance:.0%}")
        sys.exit(1)


if __name__ == "__main__":
    main()
