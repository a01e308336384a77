"""Constant-MME segments per patient by an interval sweep (clinical-rules §2).

Each counted prescription opens at its first day (+daily MME) and closes the day after its last (−daily
MME). Summing the changes per day and running the sum in date order gives the level from each change to
the next; adjacent ranges at the same level are then merged. The work grows with the number of
prescriptions, never with the number of days they cover: no row per day is ever made. Overlapping
prescriptions add (concurrent use); no early-refill carry-forward is applied (documented in
docs/decisions/0001-exposure-engine.md).

MME is DECIMAL, so a level that returns to zero is exactly zero on every engine.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from taperwise.exposure.mme import MME_TYPE

SEGMENT_COLUMNS = ("patient_id", "start_date", "end_date", "daily_mme", "n_opioids")


def counted(mme_rows: ir.Table) -> ir.Table:
    """The rows that count towards MME: status ``ok``."""
    return mme_rows.filter(mme_rows.status == "ok")


def _levels(rows: ir.Table, weight: ir.NumericValue) -> ir.Table:
    """One row per patient and change date: the level (Σ weight, concurrent count) until the next change."""
    opens = rows.select(
        "patient_id", date=rows.start_date, delta=weight.cast(MME_TYPE), count=ibis.literal(1)
    )
    closes = rows.select(
        "patient_id",
        date=(rows.end_date + ibis.interval(days=1)).cast("date"),
        delta=(-weight).cast(MME_TYPE),
        count=ibis.literal(-1),
    )
    changes = (
        opens.union(closes, distinct=False)
        .group_by(["patient_id", "date"])
        .aggregate(delta=lambda t: t.delta.sum(), count=lambda t: t["count"].sum())
    )
    running = ibis.window(group_by="patient_id", order_by="date", preceding=None, following=0)
    ordered = ibis.window(group_by="patient_id", order_by="date")
    return changes.select(
        "patient_id",
        "date",
        level=changes.delta.sum().over(running).cast(MME_TYPE),
        active=changes["count"].sum().over(running),
        next_date=changes.date.lead().over(ordered),
    )


def _merge(levels: ir.Table, key: ir.Value, keep: ir.BooleanValue) -> ir.Table:
    """Merge neighbouring ranges with the same `key`; keep the islands where `keep` holds."""
    ordered = ibis.window(group_by="patient_id", order_by="date")
    running = ibis.window(group_by="patient_id", order_by="date", preceding=None, following=0)
    marked = levels.mutate(key=key, keep=keep)
    previous = marked.key.lag().over(ordered)
    marked = marked.mutate(is_new=(previous.isnull() | (previous != marked.key)).cast("int64"))
    islands = marked.mutate(island=marked.is_new.sum().over(running))
    return (
        islands.filter(islands.keep)
        .group_by(["patient_id", "island"])
        .aggregate(
            start_date=lambda t: t.date.min(),
            end_date=lambda t: (t.next_date - ibis.interval(days=1)).cast("date").max(),
            level=lambda t: t.level.max(),
            active=lambda t: t.active.max(),
        )
    )


def constant_segments(mme_rows: ir.Table) -> ir.Table:
    """Maximal date ranges of constant total daily MME above zero, per patient.

    ``n_opioids`` is the largest number of concurrent counted prescriptions within the range: a range is
    broken only by a change of MME, as CONTRACTS.md defines a segment, not by a like-for-like refill.
    """
    rows = counted(mme_rows)
    levels = _levels(rows, rows.daily_mme)
    merged = _merge(levels, levels.level, levels.level > 0)
    result = merged.select(
        "patient_id", "start_date", "end_date", daily_mme=merged.level, n_opioids=merged.active
    )
    return result.order_by(["patient_id", "start_date"])


def coverage_intervals(rows: ir.Table) -> ir.Table:
    """Maximal date ranges covered by at least one of `rows` (any supply: benzodiazepines, buprenorphine).

    `rows` needs ``patient_id``, ``start_date`` and ``end_date``; rows with either date missing are skipped
    (they were reported as ``insufficient_data`` by the MME stage). Columns: patient_id, start_date,
    end_date, max_concurrent.
    """
    dated = rows.filter(rows.start_date.notnull() & rows.end_date.notnull())
    levels = _levels(dated, ibis.literal(1))
    merged = _merge(levels, levels.active > 0, levels.active > 0)
    return merged.select("patient_id", "start_date", "end_date", max_concurrent=merged.active)


def daily_values(
    segments: ir.Table, patient_id: str, start: dt.date, end: dt.date
) -> list[tuple[dt.date, float]]:
    """One patient's MME for every day from `start` to `end` inclusive (zero on uncovered days).

    For charts and checks; bounded by one patient's window, so a day per row is affordable here.
    """
    rows = (
        segments.filter(
            (segments.patient_id == patient_id) & (segments.end_date >= start) & (segments.start_date <= end)
        )
        .select("start_date", "end_date", "daily_mme")
        .to_pyarrow()
        .to_pylist()
    )
    days = (end - start).days + 1
    values = [0.0] * max(days, 0)
    for row in rows:
        first = max(row["start_date"], start)
        last = min(row["end_date"], end)
        for offset in range((first - start).days, (last - start).days + 1):
            values[offset] = float(row["daily_mme"])
    return [(start + dt.timedelta(days=i), value) for i, value in enumerate(values)]
