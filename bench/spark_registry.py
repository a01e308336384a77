"""The registry on Spark (local mode), timed in its own process: python -m bench.spark_registry FILE."""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

from bench.approaches import registry_command_work


def main() -> None:
    source = Path(sys.argv[1])
    began = time.perf_counter()
    result = registry_command_work("spark", source)
    seconds = time.perf_counter() - began
    # ru_maxrss of this process only: the Spark JVM is a child; RUSAGE_CHILDREN adds it.
    peak_mb = (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    ) / 1024
    print(f"taperwise_registry_spark\t{seconds:.3f}\t{peak_mb:.0f}\t{result}")


if __name__ == "__main__":
    main()
