"""Ways to get segments and registry measures, one per process so that peak memory is each one's own.

Per-row MME (the columns `taperwise mme` writes):
- ``taperwise_mme``: the ``taperwise mme`` command itself (its function, in this process): read, parse each
  distinct product, per-row MME with status and reason, written to Parquet in input order, metadata.
- ``sql_mme``: hand-written DuckDB SQL for the same columns: the distinct products parsed by the same
  parser, the factor table joined, the daily MME and a status, written in input order — without the
  checks that make each row's reason (values out of range, dates, repeats, exclusions by record).

Segments end to end, from the raw file:
- ``taperwise_segments``: the ``taperwise segments`` command itself, writing Parquet.
- ``sql_factor_sweep``: hand-written DuckDB SQL that joins the factors (as ``sql_mme``) and sweeps the
  intervals (as ``sql_segments``), writing Parquet.

The sweep alone, on the per-row MME that ``prepare`` wrote:
- ``taperwise_sweep``: the product's sweep (`constant_segments`).
- ``sql_segments``: a hand-written DuckDB SQL sweep.
- ``pandas_segments``: the naive approach — one row per prescription per day, summed per patient and day.

Registry (the 90-day dose measures every registry needs: mme3, mme4, days covered):
- ``taperwise_registry``: what ``taperwise registry`` does from the raw file: the full registry (all flags,
  priority) and its patients' segments, both written to Parquet.
- ``sql_registry``: hand-written DuckDB SQL for the three measures over the per-row MME.
- ``pandas_registry``: the same three measures from one row per prescription per day.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import ibis
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench.memory import peak_mb
from bench.shapes import codes_path
from taperwise.commands.exposure import load_codes
from taperwise.commands.exposure import mme as mme_command
from taperwise.commands.exposure import segments as segments_command
from taperwise.commands.registry import registry_command
from taperwise.exposure.engine import connect, write_result
from taperwise.exposure.factors import factor_rows
from taperwise.exposure.mme import prescription_mme
from taperwise.exposure.prescriptions import read_prescriptions
from taperwise.exposure.products import product_rows
from taperwise.exposure.segments import SWEEP_INPUT_COLUMNS, constant_segments
from taperwise.knowledge.factors import load_factor_set

AS_OF = dt.date(2025, 12, 31)
RECENT = (AS_OF - dt.timedelta(days=89), AS_OF)

SWEEP_SQL = """
WITH ev AS (
  SELECT patient_id, start_date AS d, daily_mme AS delta FROM rows
  UNION ALL
  SELECT patient_id, CAST(end_date + INTERVAL 1 DAY AS DATE) AS d, -daily_mme FROM rows
), ch AS (SELECT patient_id, d, sum(delta) AS delta FROM ev GROUP BY ALL),
lv AS (
  SELECT patient_id, d, sum(delta) OVER (PARTITION BY patient_id ORDER BY d) AS level,
         lead(d) OVER (PARTITION BY patient_id ORDER BY d) AS nxt FROM ch
), isl AS (
  SELECT *, sum(CASE WHEN level IS DISTINCT FROM prev THEN 1 ELSE 0 END)
              OVER (PARTITION BY patient_id ORDER BY d) AS island
  FROM (SELECT *, lag(level) OVER (PARTITION BY patient_id ORDER BY d) AS prev FROM lv)
)
SELECT patient_id, min(d) AS start_date, CAST(max(nxt) - INTERVAL 1 DAY AS DATE) AS end_date,
       max(level) AS daily_mme
FROM isl WHERE level > 0 GROUP BY patient_id, island
"""

REGISTRY_SQL = """
WITH seg AS ({sweep}),
clipped AS (
  SELECT patient_id, daily_mme,
         greatest(least(end_date, DATE '{last}') - greatest(start_date, DATE '{first}') + 1, 0) AS days
  FROM seg
)
SELECT patient_id, sum(daily_mme * days) / 90 AS avg_mme,
       max(CASE WHEN days > 0 THEN daily_mme END) AS max_mme, sum(days) AS covered
FROM clipped GROUP BY patient_id HAVING sum(days) > 0
"""


def prepare(source: Path, counted: Path) -> int:
    """Per-row MME of the counted prescriptions, the columns a sweep reads: the common input of the sweep
    and of the hand-written registry baselines."""
    with connect() as con:
        rows = prescription_mme(read_prescriptions(source, con))
        keep = rows.filter(rows.status == "ok").select(*SWEEP_INPUT_COLUMNS)
        return write_result(con, keep, counted)


def events_beside(source: Path) -> Path | None:
    """The harm events `taperwise synth` wrote beside a prescriptions file, when there are."""
    path = source.with_name(source.stem + ".events.parquet")
    return path if path.exists() else None


def registry_command_work(engine: str, source: Path) -> int:
    """The ``taperwise registry`` command itself (its function, in this process), with the harm events
    beside the file when synth wrote them: registry and segments written to Parquet.

    Returns the number of patients with MME in the 90-day window, read back from the written registry.
    """
    with tempfile.TemporaryDirectory() as out:
        target = Path(out) / "registry.parquet"
        as_of = dt.datetime.combine(AS_OF, dt.time())
        registry_command(source, as_of, target, engine=engine, events=events_beside(source))
        written = pq.read_table(target, columns=["avg_daily_mme_90d"])
        return int(pc.sum(pc.greater(written["avg_daily_mme_90d"], 0)).as_py())


def taperwise_registry(source: Path, counted: Path) -> int:
    return registry_command_work("duckdb", source)


def taperwise_sweep(source: Path, counted: Path) -> int:
    """The product's sweep alone, on the same per-row MME input as the hand-written SQL."""
    with connect() as con:
        rows = con.read_parquet(counted)
        return int(con.execute(constant_segments(rows).count()))


def sql_segments(source: Path, counted: Path) -> int:
    con = duckdb.connect()
    con.execute(f"CREATE VIEW rows AS SELECT * FROM read_parquet('{counted}')")
    return int(con.execute(f"SELECT count(*) FROM ({SWEEP_SQL})").fetchone()[0])  # type: ignore[index]


def sql_registry(source: Path, counted: Path) -> int:
    con = duckdb.connect()
    con.execute(f"CREATE VIEW rows AS SELECT * FROM read_parquet('{counted}')")
    query = REGISTRY_SQL.format(sweep=SWEEP_SQL, first=RECENT[0], last=RECENT[1])
    return int(con.execute(f"SELECT count(*) FROM ({query})").fetchone()[0])  # type: ignore[index]


PER_ROW_SQL = """
  WITH rx AS (
    SELECT *, TRY_CAST(quantity AS DOUBLE) AS qty, TRY_CAST(days_supply AS DOUBLE) AS days,
           TRY_CAST(start_date AS DATE) AS start
    FROM read_parquet('{source}', file_row_number = true)
  ), dosed AS (
    SELECT rx.*, p.*, qty / days AS rate, qty / days * p.p_strength AS amount,
           CASE WHEN p.p_strength_unit = 'mcg/hr' THEN 'mcg/hr' ELSE split_part(p.p_strength_unit, '/', 1)
           END AS amount_unit
    FROM rx LEFT JOIN products p ON rx.drug = p.drug {ndc_join}
  )
  SELECT rx_id, patient_id, p_ingredient AS ingredient, p_strength AS strength,
         p_strength_unit AS strength_unit, rate AS units_per_day, CAST(days AS BIGINT) AS covered_days,
         f_factor AS mme_factor, f_source AS factor_source,
         CAST(round(amount * f_multiplier * f_factor, 4) AS DECIMAL(18, 4)) AS daily_mme,
         CASE WHEN NOT coalesce(p_recognized, false) THEN 'unrecognized'
              WHEN p_class NOT IN ('opioid', 'buprenorphine') THEN 'not_opioid'
              WHEN p_class = 'buprenorphine' THEN 'excluded'
              WHEN f_factor IS NULL OR rate IS NULL THEN 'insufficient_data' ELSE 'ok' END AS status,
         CASE WHEN NOT coalesce(p_recognized, false) THEN p_reason END AS reason,
         p_class AS drug_class, coalesce(lower(route), p_route) AS route, p_release AS release,
         start AS start_date, CAST(start + CAST(days AS INTEGER) - 1 AS DATE) AS end_date,
         p_notes AS flags, start IS NOT NULL AND days IS NOT NULL AS supply
  FROM dosed LEFT JOIN factors f
    ON p_ingredient = f.f_ingredient AND p_route_key = f.f_route AND amount_unit = f.f_amount_unit
   AND round(amount, 6) > coalesce(f.f_dose_above, -1.0)
   AND round(amount, 6) <= coalesce(f.f_dose_up_to, 1e300)
"""
MME_SQL = "COPY ({per_row} ORDER BY file_row_number) TO '{output}' (FORMAT parquet)"
FACTOR_SWEEP_SQL = """
COPY (
  WITH per_row AS ({per_row}), rows AS (SELECT * FROM per_row WHERE status = 'ok'), {sweep}
) TO '{output}' (FORMAT parquet)
"""


def _rows_of(path: Path) -> int:
    return int(pq.read_metadata(path).num_rows)


def _codes(source: Path) -> Path | None:
    """The code table of the ``codes`` shape (bench/shapes.py), when `source` has one."""
    path = codes_path(source)
    return path if path.exists() else None


def taperwise_mme(source: Path, counted: Path) -> int:
    with tempfile.TemporaryDirectory() as out:
        target = Path(out) / "m.parquet"
        mme_command(source, target, codes=_codes(source))
        return _rows_of(target)


def taperwise_segments(source: Path, counted: Path) -> int:
    with tempfile.TemporaryDirectory() as out:
        target = Path(out) / "s.parquet"
        segments_command(source, target, codes=_codes(source))
        return _rows_of(target)


def _sql_with_factors(source: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection holding the distinct products of `source` (parsed by taperwise, checked against
    the code table when the shape has one) and the factors."""
    fs = load_factor_set()
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    codes = _codes(source)
    ndc = "coalesce(ndc, '')" if codes else "''"
    keys = con.execute(f"SELECT DISTINCT drug, {ndc} FROM read_parquet('{source}')").fetchall()
    table = load_codes(codes)
    con.register("products", product_rows([(d, n, "") for (d, n) in keys], fs, table))
    con.register("factors", factor_rows(fs))
    return con


def _per_row(source: Path) -> str:
    ndc_join = "AND coalesce(rx.ndc, '') = p.p_ndc" if _codes(source) else ""
    return PER_ROW_SQL.format(source=source, ndc_join=ndc_join)


def sql_mme(source: Path, counted: Path) -> int:
    con = _sql_with_factors(source)
    with tempfile.TemporaryDirectory() as out:
        target = Path(out) / "m.parquet"
        con.execute(MME_SQL.format(per_row=_per_row(source), output=target))
        return _rows_of(target)


def sql_factor_sweep(source: Path, counted: Path) -> int:
    con = _sql_with_factors(source)
    sweep = SWEEP_SQL.strip().removeprefix("WITH ")
    with tempfile.TemporaryDirectory() as out:
        target = Path(out) / "s.parquet"
        per_row = _per_row(source)
        con.execute(FACTOR_SWEEP_SQL.format(per_row=per_row, sweep=sweep, output=target))
        return _rows_of(target)


def _daily(counted: Path) -> pd.DataFrame:
    rows = pd.read_parquet(counted)
    rows["daily_mme"] = rows.daily_mme.astype(float)
    rows["days"] = (pd.to_datetime(rows.end_date) - pd.to_datetime(rows.start_date)).dt.days + 1
    expanded = rows.loc[rows.index.repeat(rows.days)].copy()
    expanded["day"] = pd.to_datetime(expanded.start_date) + pd.to_timedelta(
        expanded.groupby(level=0).cumcount(), unit="D"
    )
    return expanded.groupby(["patient_id", "day"], sort=True)["daily_mme"].sum().reset_index()


def pandas_segments(source: Path, counted: Path) -> int:
    daily = _daily(counted)
    gap = daily.groupby("patient_id").day.diff() != pd.Timedelta(days=1)
    changed = daily.groupby("patient_id").daily_mme.diff().fillna(1).abs() > 1e-9
    return int((gap | changed).sum())


def pandas_registry(source: Path, counted: Path) -> int:
    daily = _daily(counted)
    recent = daily[(daily.day >= pd.Timestamp(RECENT[0])) & (daily.day <= pd.Timestamp(RECENT[1]))]
    per_patient = recent.groupby("patient_id").agg(total=("daily_mme", "sum"), peak=("daily_mme", "max"))
    per_patient["avg"] = per_patient.total / 90
    return len(per_patient)


APPROACHES = {
    name: function
    for name, function in globals().items()
    if name.split("_")[0] in ("taperwise", "sql", "pandas") and callable(function)
}


def main() -> None:
    approach, source, counted = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    ibis.options.interactive = False
    began = time.perf_counter()
    result = prepare(source, counted) if approach == "prepare" else APPROACHES[approach](source, counted)
    seconds = time.perf_counter() - began
    print(f"{approach}\t{seconds:.3f}\t{peak_mb():.0f}\t{result}")


if __name__ == "__main__":
    main()
