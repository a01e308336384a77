"""`make bench` (publish): a registry run's output loaded into the clinical store, against a bare bulk load.

For each size the files of a registry run are synthesised (bench/publish_data.py: every patient in the
registry, 10 prescriptions and 10 segments each), then, for each store, two runs side by side, each in its
own process on its own freshly migrated database: ``bulk_load`` (the same rows with the driver alone:
COPY on PostgreSQL, executemany on SQLite) and ``taperwise_publish`` (what `registry --publish` does).
Both must leave the same number of rows. Reported: wall time, peak memory (VmHWM of the process) and
the ratio of times; never a pass or fail on time.

Environment:
- BENCH_PUBLISH_SIZES: prescriptions, comma-separated (default "1000000");
- BENCH_PUBLISH_STORES: "sqlite,postgresql" (default both);
- BENCH_PUBLISH_PG: libpq connection string of a PostgreSQL role that may create databases (default the
  local server, user postgres); the run creates `taperwise_bench_…` databases and drops them;
- BENCH_PUBLISH_TMP: where the files and SQLite databases go (default the system's temporary folder);
- BENCH_RESULTS: where the Markdown result is written (default bench/results).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from rich.console import Console

from bench.publish_data import RegistryOutput
from taperwise.store import open_store

console = Console(stderr=True)
APPROACHES = ("bulk_load", "taperwise_publish")  # the baseline first: ratios are against it
DEFAULT_PG = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=5"
COLUMNS = ("prescriptions", "patients", "store", "approach", "seconds", "peak MB", "rows loaded", "rows/s")
HEADER = [
    "| " + " | ".join((*COLUMNS, "time ÷ bulk load")) + " |",
    "|---:|---:|---|---|---:|---:|---:|---:|---:|",
]


class Databases:
    """Fresh migrated databases, one per run: a migrated template copied (SQLite: the file; PostgreSQL:
    CREATE DATABASE … TEMPLATE), each removed after its run."""

    def __init__(self, store: str, folder: Path, admin: str) -> None:
        self.store = store
        self.folder = folder
        self.admin = admin
        self.prefix = f"taperwise_bench_{secrets.token_hex(3)}"
        if store == "sqlite":
            self.template = folder / "template.db"
            open_store(f"sqlite:///{self.template}").close()
        else:
            console.print(f"PostgreSQL databases {self.prefix}_* (dropped after each run)")
            self._sql(f"CREATE DATABASE {self.prefix}_template")
            open_store(self._url(f"{self.prefix}_template")).close()

    def _sql(self, statement: str) -> None:
        with psycopg.connect(self.admin, autocommit=True) as connection:
            connection.execute(statement)

    def _url(self, name: str) -> str:
        info = psycopg.conninfo.conninfo_to_dict(self.admin)
        host, port, user = (
            info.get("host", "127.0.0.1"),
            info.get("port", "5432"),
            info.get("user", "postgres"),
        )
        return f"postgresql+psycopg://{user}@{host}:{port}/{name}"

    @contextmanager
    def fresh(self, label: str) -> Iterator[str]:
        if self.store == "sqlite":
            path = self.folder / f"{label}.db"
            shutil.copyfile(self.template, path)
            try:
                yield f"sqlite:///{path}"
            finally:
                path.unlink(missing_ok=True)
            return
        name = f"{self.prefix}_{label}"
        self._sql(f"CREATE DATABASE {name} TEMPLATE {self.prefix}_template")
        try:
            yield self._url(name)
        finally:
            self._sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def close(self) -> None:
        if self.store == "sqlite":
            self.template.unlink(missing_ok=True)
        else:
            self._sql(f"DROP DATABASE IF EXISTS {self.prefix}_template WITH (FORCE)")


def write_files(folder: Path, prescriptions: int) -> RegistryOutput:
    """The registry run's files, written by a process of their own (bench/publish_data.py)."""
    completed = subprocess.run(
        [sys.executable, "-m", "bench.publish_data", str(folder), str(prescriptions)],
        check=True,
        capture_output=True,
        text=True,
    )
    patients, written = completed.stdout.strip().splitlines()[-1].split("\t")
    return RegistryOutput(folder, int(patients), int(written))


def run(approach: str, url: str, folder: Path) -> tuple[float, float, int]:
    """Seconds, peak MB and rows loaded of one approach in its own process."""
    completed = subprocess.run(
        [sys.executable, "-m", "bench.publish_load", approach, url, str(folder)],
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        console.print(completed.stderr[-3000:])
        raise SystemExit(f"benchmark {approach} failed on {url}")
    _, seconds, peak, rows = completed.stdout.strip().splitlines()[-1].split("\t")
    return float(seconds), float(peak), int(rows)


def main() -> None:
    sizes = [int(s) for s in os.environ.get("BENCH_PUBLISH_SIZES", "1000000").split(",")]
    stores = os.environ.get("BENCH_PUBLISH_STORES", "sqlite,postgresql").split(",")
    admin = os.environ.get("BENCH_PUBLISH_PG", DEFAULT_PG)
    results = Path(os.environ.get("BENCH_RESULTS", "bench/results"))
    lines = [
        f"Machine: {platform.node()} — {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}; run {dt.datetime.now():%Y-%m-%d %H:%M}",
        "",
        *HEADER,
    ]
    with tempfile.TemporaryDirectory(
        prefix="taperwise-bench-", dir=os.environ.get("BENCH_PUBLISH_TMP")
    ) as tmp:
        for n in sizes:
            began = time.perf_counter()
            output = write_files(Path(tmp) / f"registry-{n}", n)
            console.print(
                f"{output.prescriptions:,} prescriptions, {output.patients:,} patients written in "
                f"{time.perf_counter() - began:.0f} s"
            )
            for store in stores:
                databases = Databases(store, Path(tmp), admin)
                try:
                    measured = {}
                    for approach in APPROACHES:
                        with databases.fresh(approach) as url:
                            measured[approach] = run(approach, url, output.folder)
                        seconds, peak, rows = measured[approach]
                        console.print(f"{store} {approach}: {seconds:.1f} s, {peak:.0f} MB, {rows:,} rows")
                finally:
                    databases.close()
                if (
                    len({rows for _, _, rows in measured.values()}) != 1
                    or measured["bulk_load"][2] != output.rows
                ):
                    raise SystemExit(f"{store}: the approaches loaded different rows: {measured}")
                baseline = measured["bulk_load"][0]
                for approach, (seconds, peak, rows) in measured.items():
                    cells = [f"{output.prescriptions:,}", f"{output.patients:,}", store, approach]
                    cells += [f"{seconds:.1f}", f"{peak:.0f}", f"{rows:,}", f"{rows / seconds:,.0f}"]
                    cells.append(f"{seconds / baseline:.2f}×")
                    lines.append("| " + " | ".join(cells) + " |")
    report = "\n".join(lines)
    print(report)
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"publish-{dt.datetime.now():%Y%m%d-%H%M%S}.md"
    path.write_text(report + "\n", encoding="utf-8")
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
