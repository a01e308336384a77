"""The registry on Spark (local mode), timed in its own process: python -m bench.spark_registry FILE."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from bench.approaches import registry_command_work
from bench.memory import peak_mb


def _children_peak_kb(pid: int) -> int:
    """Sum of VmHWM (peak resident memory) over the live descendants of `pid`, in kB (Linux)."""
    total = 0
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for child in children.read_text().split() if children.exists() else []:
        status = Path(f"/proc/{child}/status")
        for line in status.read_text().splitlines() if status.exists() else []:
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
        total += _children_peak_kb(int(child))
    return total


def main() -> None:
    source = Path(sys.argv[1])
    began = time.perf_counter()
    result = registry_command_work("spark", source)
    seconds = time.perf_counter() - began
    # The Spark JVM is a child process still running here, so RUSAGE_CHILDREN does not count it yet: its
    # high-water mark is read from /proc while it lives.
    peak = peak_mb() + _children_peak_kb(os.getpid()) / 1024
    print(f"taperwise_registry_spark\t{seconds:.3f}\t{peak:.0f}\t{result}")


if __name__ == "__main__":
    main()
