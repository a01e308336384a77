"""Constant-MME segments per patient by an interval sweep (clinical-rules §2).

Each counted prescription opens at its first day (+daily MME) and closes the day after its last (−daily
MME). Summing the changes per day and running the sum in date order gives the level from each change to
the next; adjacent ranges at the same level are then merged. The work grows with the number of
prescriptions, never with the number of days they cover: no row per day is ever made. Overlapping
prescriptions add (concurrent use), early refills of one product included, unless the caller carries
early refills forward first (`taperwise.exposure.refills`; docs/decisions/0013-early-refills.md).

Two counts ride in the same sweep: ``n_opioids``, the most distinct opioid drugs (ingredients) in supply
on one day of the range, and ``overlapping_fills``, the most fills of one product beyond the first in
supply on one day (above zero when an early refill of that product adds to the range's MME). Both come
from the days a fill shares with an earlier fill of the same drug or product: on any day, the fills in
supply less those shared portions is the number of distinct drugs (products) — the earliest of each has none.

MME is DECIMAL, so a level that returns to zero is exactly zero on every engine.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from taperwise.exposure.mme import MME_TYPE
from taperwise.exposure.prescriptions import ROW
from taperwise.exposure.refills import DRUG_KEY, PRODUCT_KEY

# CONTRACTS.md's columns, then the ones added after it (kept last so the contract order holds).
CONTRACT_SEGMENT_COLUMNS = ("patient_id", "start_date", "end_date", "daily_mme", "n_opioids")
SEGMENT_EXTRA_COLUMNS = ("overlapping_fills",)
SEGMENT_COLUMNS = CONTRACT_SEGMENT_COLUMNS + SEGMENT_EXTRA_COLUMNS
# The per-row MME columns that segments, windows and early-refill rules read.
SWEEP_INPUT_COLUMNS = tuple(
    dict.fromkeys((ROW, "status", "supply", "start_date", "end_date", "daily_mme", *PRODUCT_KEY))
)


def counted(mme_rows: ir.Table) -> ir.Table:
    """The rows that count towards MME: status ``ok``."""
    return mme_rows.filter(mme_rows.status == "ok")


def _event(
    date: ir.DateValue,
    delta: ir.NumericValue,
    fills: int = 0,
    same_drug: int = 0,
    same_product: int = 0,
) -> ir.StructValue:
    return ibis.struct(
        {
            "date": date.cast("date"),
            "delta": delta.cast(MME_TYPE),
            "fills": ibis.literal(fills).cast("int64"),
            "same_drug": ibis.literal(same_drug).cast("int64"),
            "same_product": ibis.literal(same_product).cast("int64"),
        }
    )


def _changes(rows: ir.Table) -> ir.Table:
    """One row per patient and day on which something opens or closes, with the net change of each.

    Each counted row gives up to six events from one reading of it (an array unnested, so the per-row
    MME is planned once, not once per kind of event): its MME opening and closing, and the opening and
    closing of the days it shares with an earlier fill of the same drug and of the same product.
    """
    earlier_drug = ibis.window(group_by=list(DRUG_KEY), order_by=["start_date", ROW], rows=(None, -1))
    earlier_product = ibis.window(group_by=list(PRODUCT_KEY), order_by=["start_date", ROW], rows=(None, -1))
    reached = rows.mutate(
        _drug=rows.end_date.max().over(earlier_drug), _product=rows.end_date.max().over(earlier_product)
    )
    zero = ibis.literal(0).cast(MME_TYPE)
    day = ibis.interval(days=1)

    def shared(until: ir.DateValue) -> tuple[ir.DateValue, ir.DateValue]:
        """The first day and the day after the last of the days shared with an earlier fill (null: none)."""
        overlaps = until.notnull() & (until >= reached.start_date)
        first = ibis.ifelse(overlaps, reached.start_date, ibis.null("date"))
        after = ibis.ifelse(
            overlaps, (ibis.least(reached.end_date, until) + day).cast("date"), ibis.null("date")
        )
        return first, after

    drug_first, drug_after = shared(reached._drug)
    product_first, product_after = shared(reached._product)
    events = reached.select(
        "patient_id",
        event=ibis.array(
            [
                _event(reached.start_date, reached.daily_mme, fills=1),
                _event((reached.end_date + day).cast("date"), -reached.daily_mme, fills=-1),
                _event(drug_first, zero, same_drug=1),
                _event(drug_after, zero, same_drug=-1),
                _event(product_first, zero, same_product=1),
                _event(product_after, zero, same_product=-1),
            ]
        ).unnest(),
    )
    counts = ("fills", "same_drug", "same_product")
    flat = events.select(
        "patient_id", date=events.event["date"], delta=events.event["delta"],
        **{name: events.event[name] for name in counts},
    )  # fmt: skip
    flat = flat.filter(flat.date.notnull())
    return flat.group_by(["patient_id", "date"]).aggregate(
        delta=flat.delta.sum(), **{name: flat[name].sum() for name in counts}
    )


def constant_segments(mme_rows: ir.Table) -> ir.Table:
    """Maximal date ranges of constant total daily MME above zero, per patient.

    A range is broken only by a change of MME, as CONTRACTS.md defines a segment, not by a like-for-like
    refill; ``n_opioids`` and ``overlapping_fills`` are the most in supply on any one day of it.
    """
    return segments_by_patient(mme_rows).order_by(["patient_id", "start_date"])


def segments_by_patient(mme_rows: ir.Table) -> ir.Table:
    """`constant_segments` in no particular order (for an engine to keep or join, not to show)."""
    changes = _changes(counted(mme_rows))
    running = ibis.window(group_by="patient_id", order_by="date", preceding=None, following=0)
    ordered = ibis.window(group_by="patient_id", order_by="date")
    levels = changes.select(
        "patient_id",
        "date",
        level=changes.delta.sum().over(running).cast(MME_TYPE),
        drugs=(changes.fills - changes.same_drug).sum().over(running),
        shared=changes.same_product.sum().over(running),
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
        n_opioids=kept.drugs.max().cast("int64"),
        overlapping_fills=kept.shared.max().cast("int64"),
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
