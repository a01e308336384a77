"""`make bench` (start-up): how long a command takes to start, against what its libraries cost to import.

Each command runs as its own process, ``BENCH_STARTUP_RUNS`` times (default 9), the commands interleaved
so that a busy moment of the machine falls on all of them alike; the median is reported, with the ratio to
its reference measured in the same run (issue 12):

- ``--version``, ``--help``, ``registry --help``, ``taper plan --help`` against ``python -c "import typer,
  rich"``, the command-line framework's own import; and, to show what the framework itself costs once it
  parses an option, a two-command Typer app of a few lines (``minimal Typer app``);
- ``mme`` on the 33-row sample (examples/prescriptions.csv) against ``python -c "import duckdb, ibis"``,
  beside what connecting Ibis to DuckDB and running one query costs (the floor of any Ibis program).

Results are printed as Markdown and written to bench/results/ for docs/benchmarks.md.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from bench import write_result

console = Console(stderr=True)
ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "prescriptions.csv"
MINIMAL_APP = '''
import typer

app = typer.Typer(rich_markup_mode=None, add_completion=False)


@app.callback()
def main(version: bool = typer.Option(False, "--version", is_eager=True)) -> None:
    """A group with one option, as taperwise has."""


@app.command()
def one(name: str = typer.Option("x", "--name")) -> None:
    """A command."""


@app.command()
def two(name: str = typer.Option("x", "--name")) -> None:
    """Another."""


app()
'''


IBIS_QUERY = "import ibis; ibis.duckdb.connect().execute(ibis.memtable({'a': [1, 2]}).a.sum())"


def _taperwise() -> list[str]:
    return [sys.executable, "-c", "from taperwise.cli import app; app()"]


def cases(scratch: Path) -> list[tuple[str, list[str], str]]:
    """(label, argv, the label of its reference) — references have themselves as reference."""
    minimal = scratch / "minimal_cli.py"
    minimal.write_text(MINIMAL_APP, encoding="utf-8")
    typer_import = "python -c 'import typer, rich'"
    engine_import = "python -c 'import duckdb, ibis'"
    out = scratch / "mme.csv"
    return [
        (typer_import, [sys.executable, "-c", "import typer, rich"], typer_import),
        ("minimal Typer app: one --help", [sys.executable, str(minimal), "one", "--help"], typer_import),
        ("taperwise --version", [*_taperwise(), "--version"], typer_import),
        ("taperwise --help", [*_taperwise(), "--help"], typer_import),
        ("taperwise registry --help", [*_taperwise(), "registry", "--help"], typer_import),
        ("taperwise taper plan --help", [*_taperwise(), "taper", "plan", "--help"], typer_import),
        (engine_import, [sys.executable, "-c", "import duckdb, ibis"], engine_import),
        # what any Ibis program on DuckDB pays before its own work: connecting imports pandas and every
        # SQLGlot dialect, and the first query compiles through SQLGlot
        ("ibis.duckdb.connect() and one query", [sys.executable, "-c", IBIS_QUERY], engine_import),
        ("taperwise mme (33 rows)", [*_taperwise(), "mme", str(SAMPLE), "-o", str(out)], engine_import),
    ]


def _seconds(argv: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - began


def measure(runs: int) -> list[tuple[str, float, str]]:
    """(label, median seconds, reference label) per case."""
    with tempfile.TemporaryDirectory(prefix="taperwise-startup-") as scratch:
        todo = cases(Path(scratch))
        for _, argv, _ in todo:  # one warm-up each: the file cache, not the first run, is measured
            _seconds(argv)
        times: dict[str, list[float]] = {label: [] for label, _, _ in todo}
        for _ in range(runs):
            for label, argv, _ in todo:
                times[label].append(_seconds(argv))
    return [(label, statistics.median(times[label]), reference) for label, _, reference in todo]


def report(results: list[tuple[str, float, str]], runs: int) -> str:
    medians = {label: seconds for label, seconds, _ in results}
    lines = [
        f"Machine: {platform.node()} — {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}; run {dt.datetime.now():%Y-%m-%d %H:%M}; median of {runs} runs",
        "",
        "| command | seconds | reference | time ÷ reference |",
        "|---|---:|---|---:|",
    ]
    for label, seconds, reference in results:
        ratio = "1.00× (reference)" if label == reference else f"{seconds / medians[reference]:.2f}×"
        lines.append(f"| {label} | {seconds:.3f} | {reference} | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    runs = int(os.environ.get("BENCH_STARTUP_RUNS", "9"))
    console.print(f"start-up: {runs} runs of each command")
    text = report(measure(runs), runs)
    print(text)
    write_result("startup", text)


if __name__ == "__main__":
    main()
