"""Early refills: fills of one product that overlap, added (the default) or carried forward.

A refill collected before the previous supply of the same product has run out makes two fills of that
product cover the same days. The published definitions (mme1–mme4, clinical-rules §2; the NIH HEAL MME
calculator) add them, as they add any concurrent prescriptions, so an early refill shows as a doubled
dose during the overlap. Pharmacoepidemiology's usual alternative is to *carry the refill forward*: a fill
that starts before the previous fill of the same product ends is taken to start the day after it, so the
tablets are counted as taken in turn rather than together.

`EARLY_REFILL_RULES` (in `taperwise.exposure.options`) names the two rules; every output that depends on
the choice (segments, windows, the registry and its metadata) says which one it used. Neither rule
changes a prescription's own row in `taperwise mme`: the shift applies to what the sweep counts, never to
what was prescribed.

The same product is the same patient, drug class, ingredient, route, release, strength and unit (the
parsed product, so a refill written with different text still matches). Carrying forward, over the fills
of one product in start order (ties by input row), with ``days`` each fill's covered days and ``S`` their
running sum, fill *i* ends on ``max_{j ≤ i}(start_j − S_{j−1}) + S_i − 1``: the later of its own start
and the day after the previous (shifted) fill ends, plus its days. That is one running sum and one
running maximum per product — a window pass, on every engine, with no row per day and no recursion.

Carrying forward never moves supply past the latest plausible date (`taperwise.plausible.DateRange`, the
run's range): a fill pushed wholly beyond it is not counted (its dates are empty) and one that reaches
past it ends on it. Every fill itself ends inside the range (the MME stage reports any other), so this
only happens when many fills of one product are stacked, and no output ever holds a date beyond the range.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from taperwise.exposure.options import (
    EarlyRefills,
)
from taperwise.exposure.prescriptions import ROW
from taperwise.plausible import DateRange

PRODUCT_KEY = ("patient_id", "drug_class", "ingredient", "route", "release", "strength", "strength_unit")
DRUG_KEY = ("patient_id", "ingredient")
_EPOCH_DATE = dt.date(1970, 1, 1)
_EPOCH = ibis.date(1970, 1, 1)


def _day_number(date: ir.DateValue) -> ir.IntegerValue:
    return date.delta(_EPOCH, unit="day").cast("int64")


def _date_of(number: ir.IntegerValue) -> ir.DateValue:
    # int32: DuckDB sums BIGINT as HUGEINT, which Ibis still calls int64 (so a cast to it is dropped)
    return (_EPOCH + number.cast("int32").as_interval("D")).cast("date")


def carry_forward(rows: ir.Table, dates: DateRange | None = None) -> ir.Table:
    """`rows` (per-row MME) with each fill of a product moved to start after the previous one ends.

    Only supply rows of a known ingredient move (their dates are known); every other row is returned as
    it came. Columns are kept; ``start_date`` and ``end_date`` are the dates counted, never past
    `dates.latest` (by default the environment's range today).
    """
    latest = ((dates or DateRange.from_environment()).latest - _EPOCH_DATE).days
    movable = rows.supply.fill_null(False) & rows.ingredient.notnull()
    # One reading of `rows` (no split and union, so an engine plans the per-row MME once): every row is
    # windowed with its product, the rows that may not move in partitions of their own, and keep their dates.
    product = ibis.window(
        group_by=[movable.name("_movable"), *PRODUCT_KEY],
        order_by=["start_date", ROW],
        preceding=None,
        following=0,
    )
    days = (rows.end_date.delta(rows.start_date, unit="day") + 1).cast("int64")
    with_sums = rows.mutate(_movable=movable, _days=days, _supplied=days.sum().over(product).cast("int64"))
    # the first day this fill could start if every earlier fill of the product had been taken in turn
    earliest = _day_number(with_sums.start_date) - (with_sums._supplied - with_sums._days)
    with_reach = with_sums.mutate(_reach=earliest.max().over(product))
    last = with_reach._reach + with_reach._supplied - 1
    first = last - with_reach._days + 1
    # compared as day numbers (64-bit) before any becomes a date: a sum of many fills may exceed a date's
    beyond = first > latest
    moved = with_reach.mutate(
        start_date=ibis.ifelse(
            with_reach._movable,
            ibis.ifelse(beyond, ibis.null("date"), _date_of(ibis.least(first, latest))),
            with_reach.start_date,
        ),
        end_date=ibis.ifelse(
            with_reach._movable,
            ibis.ifelse(beyond, ibis.null("date"), _date_of(ibis.least(last, latest))),
            with_reach.end_date,
        ),
    )
    return moved.select(*rows.columns)


def apply_early_refills(rows: ir.Table, rule: EarlyRefills, dates: DateRange | None = None) -> ir.Table:
    """`rows` as the named early-refill rule counts them (`dates`: the run's plausible range)."""
    return carry_forward(rows, dates) if rule == "carry-forward" else rows
