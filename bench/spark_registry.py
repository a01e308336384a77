"""The registry on Spark (local mode), timed in its own process: python -m bench.spark_registry FILE."""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

from bench.approaches import AS_OF
from taperwise.exposure.engine import connect
from taperwise.exposure.mme import prescription_mme
from taperwise.exposure.prescriptions import read_prescriptions
from taperwise.exposure.registry import registry
from taperwise.knowledge.registry import load_priority_rules, load_registry_settings


def main() -> None:
    source = Path(sys.argv[1])
    began = time.perf_counter()
    with connect("spark") as con:
        rows = prescription_mme(read_prescriptions(source, con))
        table = registry(rows, AS_OF, load_registry_settings(), load_priority_rules())
        result = int(con.execute(table.filter(table.avg_daily_mme_90d > 0).count()))
    seconds = time.perf_counter() - began
    # ru_maxrss of this process only: the Spark JVM is a child; RUSAGE_CHILDREN adds it.
    peak_mb = (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    ) / 1024
    print(f"taperwise_registry_spark\t{seconds:.3f}\t{peak_mb:.0f}\t{result}")


if __name__ == "__main__":
    main()
