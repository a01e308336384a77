"""Average daily MME over a window: the four definitions of clinical-rules §2 (NIH HEAL MME calculator).

``mme1`` total ÷ days supply (clipped), ``mme2`` total ÷ days covered, ``mme3`` total ÷ window length,
``mme4`` the largest single-day total. Windows are inclusive calendar days; prescriptions are clipped to
the window, so every count speaks only of days inside it. Every patient in the input gets a row, with
zeros when nothing was counted in the window (a ratio with a zero denominator is empty, not zero).
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from taperwise.exposure.mme import MME_TYPE
from taperwise.exposure.segments import counted

WINDOW_COLUMNS = (
    "patient_id",
    "total_mme",
    "days_supply_sum",
    "days_covered",
    "window_days",
    "mme1",
    "mme2",
    "mme3",
    "mme4",
)
RATIO_TYPE = MME_TYPE


def clipped_days(start: ir.DateValue, end: ir.DateValue, first: dt.date, last: dt.date) -> ir.IntegerValue:
    """Days of ``start … end`` that fall inside ``first … last`` (inclusive), zero when apart."""
    lo = ibis.greatest(start, ibis.literal(first))
    hi = ibis.least(end, ibis.literal(last))
    return ibis.greatest(hi.delta(lo, unit="day") + 1, 0)


def _ratio(numerator: ir.NumericValue, denominator: ir.NumericValue) -> ir.NumericValue:
    return ibis.ifelse(
        denominator > 0,
        (numerator.cast("float64") / denominator.cast("float64")).round(4).cast(RATIO_TYPE),
        ibis.null(RATIO_TYPE),
    )


def window_metrics(mme_rows: ir.Table, segments: ir.Table, first: dt.date, last: dt.date) -> ir.Table:
    """Per-patient window metrics over ``first .. last`` inclusive."""
    if last < first:
        raise ValueError(f"window end {last} is before its start {first}")
    window_days = (last - first).days + 1
    rows = counted(mme_rows)
    rows = rows.mutate(days_in=clipped_days(rows.start_date, rows.end_date, first, last))
    by_rx = rows.group_by("patient_id").aggregate(
        total_mme=(rows.daily_mme * rows.days_in).sum().cast(MME_TYPE),
        days_supply_sum=rows.days_in.sum(),
    )
    segs = segments.mutate(days_in=clipped_days(segments.start_date, segments.end_date, first, last))
    segs = segs.filter(segs.days_in > 0)
    by_segment = segs.group_by("patient_id").aggregate(
        days_covered=segs.days_in.sum(), mme4=segs.daily_mme.max().cast(MME_TYPE)
    )
    patients = (
        mme_rows.filter(mme_rows.patient_id.notnull() & (mme_rows.patient_id != ""))
        .select("patient_id")
        .distinct()
    )
    joined = patients.left_join(by_rx, "patient_id").left_join(by_segment, "patient_id")
    zero = ibis.literal(0).cast(MME_TYPE)
    total = joined.total_mme.coalesce(zero)
    supply = joined.days_supply_sum.coalesce(0).cast("int64")
    covered = joined.days_covered.coalesce(0).cast("int64")
    result = joined.select(
        "patient_id",
        total_mme=total,
        days_supply_sum=supply,
        days_covered=covered,
        window_days=ibis.literal(window_days).cast("int64"),
        mme1=_ratio(total, supply),
        mme2=_ratio(total, covered),
        mme3=_ratio(total, ibis.literal(window_days)),
        mme4=joined.mme4.coalesce(zero),
    )
    return result.order_by("patient_id")
