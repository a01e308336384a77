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


def _changes(rows: ir.Table, weight: ir.NumericValue) -> ir.Table:
    """One row per patient and day on which something opens or closes: the net change of MME and count."""
    opens = rows.select(
        "patient_id", date=rows.start_date, delta=weight.cast(MME_TYPE), count=ibis.literal(1)
    )
    closes = rows.select(
        "patient_id",
        date=(rows.end_date + ibis.interval(days=1)).cast("date"),
        delta=(-weight).cast(MME_TYPE),
        count=ibis.literal(-1),
    )
    return (
        opens.union(closes, distinct=False)
        .group_by(["patient_id", "date"])
        .aggregate(delta=lambda t: t.delta.sum(), count=lambda t: t["count"].sum())
    )


def constant_segments(mme_rows: ir.Table) -> ir.Table:
    """Maximal date ranges of constant total daily MME above zero, per patient.

    ``n_opioids`` is the largest number of concurrent counted prescriptions within the range: a range is
    broken only by a change of MME, as CONTRACTS.md defines a segment, not by a like-for-like refill.
    """
    return segments_by_patient(mme_rows).order_by(["patient_id", "start_date"])


def segments_by_patient(mme_rows: ir.Table) -> ir.Table:
    """`constant_segments` in no particular order (for an engine to keep or join, not to show)."""
    rows = counted(mme_rows)
    changes = _changes(rows, rows.daily_mme)
    running = ibis.window(group_by="patient_id", order_by="date", preceding=None, following=0)
    ordered = ibis.window(group_by="patient_id", order_by="date")
    levels = changes.select(
        "patient_id",
        "date",
        level=changes.delta.sum().over(running).cast(MME_TYPE),
        active=changes["count"].sum().over(running),
        next_date=changes.date.lead().over(ordered),
        # The level changes exactly on the days whose net change is not zero (DECIMAL, so exactly), so a
        # running count of those days numbers the runs of equal level in the same pass over the sort.
        run=(changes.delta != 0).cast("int64").sum().over(running),
    )
    kept = levels.filter(levels.level > 0)
    merged = kept.group_by(["patient_id", "run"]).aggregate(
        start_date=kept.date.min(),
        end_date=(kept.next_date - ibis.interval(days=1)).cast("date").max(),
        daily_mme=kept.level.max(),
        n_opioids=kept.active.max(),
    )
    return merged.select(*SEGMENT_COLUMNS)


def coverage_intervals(rows: ir.Table) -> ir.Table:
    """Maximal date ranges covered by at least one of `rows` (any supply: benzodiazepines, buprenorphine).

    `rows` needs ``patient_id``, ``start_date`` and ``end_date``; rows with either date missing are skipped
    (they were reported as ``insufficient_data`` by the MME stage). Columns: patient_id, start_date,
    end_date. A range ending the day before the next one starts joins it (supply without a gap).

    In start order, a start opens a new range when it comes after the last day any earlier start reached.
    Rows are first reduced to one per patient and start day, so the order is total and the two passes
    below (which the engine may sort separately) see the same order.
    """
    dated = rows.filter(rows.start_date.notnull() & rows.end_date.notnull())
    starts = dated.group_by(["patient_id", "start_date"]).aggregate(end_date=dated.end_date.max())
    earlier = ibis.window(group_by="patient_id", order_by="start_date", rows=(None, -1))
    reached = starts.mutate(reached=starts.end_date.max().over(earlier))
    opens = reached.reached.isnull() | (reached.start_date > reached.reached + ibis.interval(days=1))
    running = ibis.window(group_by="patient_id", order_by="start_date", preceding=None, following=0)
    numbered = reached.mutate(run=opens.cast("int64").sum().over(running))
    return (
        numbered.group_by(["patient_id", "run"])
        .aggregate(start_date=numbered.start_date.min(), end_date=numbered.end_date.max())
        .drop("run")
    )


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
