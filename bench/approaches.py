"""Three ways to get constant-MME segments, run one per process so peak memory is each one's own.

- ``taperwise_pipeline``: the product end to end (parse products, per-row MME, sweep) from the raw file.
- ``taperwise_sweep``: the product's sweep alone, on the per-row MME that ``prepare`` wrote.
- ``duckdb_sql``: a hand-written DuckDB SQL sweep on the same input (what an expert would write directly).
- ``pandas_days``: the naive approach — one row per prescription per day, summed per patient and day.
"""

from __future__ import annotations

import datetime as dt
import resource
import sys
import time
from pathlib import Path

import duckdb
import ibis
import pandas as pd

from taperwise.exposure.engine import connect
from taperwise.exposure.mme import prescription_mme
from taperwise.exposure.prescriptions import read_prescriptions
from taperwise.exposure.segments import constant_segments

SWEEP_SQL = """
WITH ev AS (
  SELECT patient_id, start_date AS d, daily_mme AS delta FROM rows
  UNION ALL
  SELECT patient_id, end_date + 1 AS d, -daily_mme FROM rows
), ch AS (SELECT patient_id, d, sum(delta) AS delta FROM ev GROUP BY ALL),
lv AS (
  SELECT patient_id, d, sum(delta) OVER (PARTITION BY patient_id ORDER BY d) AS level,
         lead(d) OVER (PARTITION BY patient_id ORDER BY d) AS nxt FROM ch
), isl AS (
  SELECT *, sum(CASE WHEN level IS DISTINCT FROM prev THEN 1 ELSE 0 END)
              OVER (PARTITION BY patient_id ORDER BY d) AS island
  FROM (SELECT *, lag(level) OVER (PARTITION BY patient_id ORDER BY d) AS prev FROM lv)
)
SELECT patient_id, min(d) AS start_date, max(nxt) - 1 AS end_date, max(level) AS daily_mme
FROM isl WHERE level > 0 GROUP BY patient_id, island
"""


def prepare(source: Path, counted: Path) -> int:
    """Per-row MME of the counted prescriptions: the common input of the sweep-only approaches."""
    with connect() as con:
        rows = prescription_mme(read_prescriptions(source))
        keep = rows.filter(rows.status == "ok").select("patient_id", "start_date", "end_date", "daily_mme")
        con.to_parquet(keep, counted)
        return int(con.execute(keep.count()))


def run_taperwise_pipeline(source: Path) -> int:
    """Raw file → product parsing → per-row MME → segments: what `taperwise segments` does."""
    with connect() as con:
        rows = prescription_mme(read_prescriptions(source))
        return int(con.execute(constant_segments(rows).count()))


def run_taperwise_sweep(counted: Path) -> int:
    """The product's sweep on the same input as the hand-written SQL."""
    with connect() as con:
        rows = con.read_parquet(counted)
        rows = rows.mutate(status=ibis.literal("ok"))
        return int(con.execute(constant_segments(rows).count()))


def run_duckdb_sql(counted: Path) -> int:
    con = duckdb.connect()
    con.execute(f"CREATE VIEW rows AS SELECT * FROM read_parquet('{counted}')")
    return int(con.execute(f"SELECT count(*) FROM ({SWEEP_SQL})").fetchone()[0])  # type: ignore[index]


def run_pandas_days(counted: Path) -> int:
    rows = pd.read_parquet(counted)
    rows["days"] = (pd.to_datetime(rows.end_date) - pd.to_datetime(rows.start_date)).dt.days + 1
    expanded = rows.loc[rows.index.repeat(rows.days)].copy()
    expanded["day"] = pd.to_datetime(expanded.start_date) + pd.to_timedelta(
        expanded.groupby(level=0).cumcount(), unit="D"
    )
    daily = expanded.groupby(["patient_id", "day"], sort=True)["daily_mme"].sum().reset_index()
    gap = daily.groupby("patient_id").day.diff() != pd.Timedelta(days=1)
    changed = daily.groupby("patient_id").daily_mme.diff().fillna(1) != 0
    return int((gap | changed).sum())


def main() -> None:
    approach, source, counted = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    began = time.perf_counter()
    if approach == "prepare":
        segments = prepare(source, counted)
    elif approach == "taperwise_pipeline":
        segments = run_taperwise_pipeline(source)
    elif approach == "taperwise_sweep":
        segments = run_taperwise_sweep(counted)
    elif approach == "duckdb_sql":
        segments = run_duckdb_sql(counted)
    else:
        segments = run_pandas_days(counted)
    seconds = time.perf_counter() - began
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{approach}\t{seconds:.3f}\t{peak_mb:.0f}\t{segments}\t{dt.datetime.now():%H:%M:%S}")


if __name__ == "__main__":
    main()
