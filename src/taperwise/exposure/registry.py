"""The registry: one row per patient with any opioid supply in the lookback, flags and a priority.

Definitions (clinical-rules §3), every threshold from `taperwise.knowledge.registry` settings:

- the population: patients with any opioid supply (buprenorphine for pain included) on a day of the
  lookback window ``D−179 … D``;
- ``avg_daily_mme_90d`` / ``max_daily_mme_90d``: mme3 and mme4 over ``D−89 … D`` (the same window
  function as `taperwise window`);
- ``days_covered_90d``: days in ``D−89 … D`` with any opioid supply, buprenorphine for pain included
  (what long-term therapy means), so it can exceed the MME-covered days;
- ``ltot``: covered days ≥ the chosen definition's minimum in its window;
- ``benzo_overlap_days_90d``: days in ``D−89 … D`` covered by both an opioid and a benzodiazepine;
- ``prescribers_180d`` / ``pharmacies_180d``: distinct ids on opioid fills starting in the lookback;
- ``new_prescriber``: the prescriber of the latest fill wrote none of the fills in the lookback before
  it, and there were such fills; empty when the latest fill names no prescriber (unknown, not false);
- ``dose_complete`` / ``unknown_dose_days_90d`` / ``dose_gap``: whether every opioid supply in ``D−89 … D``
  has a known MME; the days covered by supply whose MME is unknown (no factor in the set, an unusable
  value) and why. When the dose is incomplete the averages are lower bounds, a high-dose flag below its
  threshold is unknown (empty), never false, and for the priority an unknown high-dose flag counts as
  possibly true, so a patient is never ranked below a threshold because a dose could not be computed;
  the priority reason then names the gap;
- ``current_daily_mme``: the total MME/day of the supply covering D (0 when none);
- ``restarted_after_gap``: the latest run of opioid coverage began in ``D−89 … D`` after at least the
  settings' gap (30 days) without any opioid, following earlier supply in the year before D;
- ``priority`` / ``priority_reason``: the first matching rule of the ordered rules data.
"""

from __future__ import annotations

import ast
import datetime as dt
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from taperwise.exposure.mme import EXTRA_COLUMNS, MME_COLUMNS, MME_TYPE
from taperwise.exposure.options import DEFAULT_EARLY_REFILLS, EarlyRefills
from taperwise.exposure.prescriptions import ROW
from taperwise.exposure.refills import apply_early_refills
from taperwise.exposure.segments import SEGMENT_COLUMNS, coverage_intervals, segments_by_patient
from taperwise.exposure.windows import clipped_days, window_metrics
from taperwise.knowledge.registry import PriorityRule, RegistrySettings
from taperwise.plausible import DateRange
from taperwise.registry_schema import HARM_COLUMNS, REGISTRY_COLUMNS, settings_values, with_settings

# The per-row MME columns the registry and its segments read.
REGISTRY_INPUT_COLUMNS = (
    ROW, "patient_id", "rx_id", "status", "supply", "start_date", "end_date", "drug_class", "route",
    "daily_mme", "prescriber_id", "pharmacy_id", "reason", "ingredient", "release", "strength",
    "strength_unit",
)  # fmt: skip


@dataclass(frozen=True)
class Windows:
    as_of: dt.date
    lookback: tuple[dt.date, dt.date]
    recent: tuple[dt.date, dt.date]
    ltot: tuple[dt.date, dt.date]
    harm: tuple[dt.date, dt.date]

    @classmethod
    def ending(cls, as_of: dt.date, settings: RegistrySettings) -> Windows:
        def span(days: int) -> tuple[dt.date, dt.date]:
            return as_of - dt.timedelta(days=days - 1), as_of

        return cls(
            as_of,
            span(settings.lookback_days),
            span(settings.recent_days),
            span(settings.ltot_window_days),
            span(settings.harm_window_days),
        )


def _days_in(intervals: ir.Table, window: tuple[dt.date, dt.date], name: str) -> ir.Table:
    days = clipped_days(intervals.start_date, intervals.end_date, *window)
    return intervals.group_by("patient_id").aggregate(**{name: days.sum().cast("int64")})


def _benzo_overlap(opioid: ir.Table, benzo: ir.Table, window: tuple[dt.date, dt.date]) -> ir.Table:
    """Days covered by both; both inputs are disjoint merged intervals, so intersections never repeat."""
    b = benzo.rename(b_start="start_date", b_end="end_date", b_patient="patient_id")
    pairs = opioid.join(
        b,
        [
            opioid.patient_id == b.b_patient,
            opioid.start_date <= b.b_end,
            b.b_start <= opioid.end_date,
        ],
    )
    lo = ibis.greatest(pairs.start_date, pairs.b_start)
    hi = ibis.least(pairs.end_date, pairs.b_end)
    days = clipped_days(lo, hi, *window)
    return pairs.group_by("patient_id").aggregate(benzo_overlap_days_90d=days.sum().cast("int64"))


def _providers(fills: ir.Table, window: tuple[dt.date, dt.date]) -> ir.Table:
    inside = fills.filter(fills.start_date.between(*window))
    prescriber = ibis.ifelse(inside.prescriber_id == "", ibis.null("string"), inside.prescriber_id)
    pharmacy = ibis.ifelse(inside.pharmacy_id == "", ibis.null("string"), inside.pharmacy_id)
    return inside.group_by("patient_id").aggregate(
        prescribers_180d=prescriber.nunique().cast("int64"), pharmacies_180d=pharmacy.nunique().cast("int64")
    )


def _new_prescriber(fills: ir.Table, windows: Windows, lookback_days: int) -> ir.Table:
    inside = fills.filter(fills.start_date.between(*windows.lookback))
    order = ibis.window(group_by="patient_id", order_by=[ibis.desc("start_date"), ibis.desc("rx_id")])
    latest = inside.mutate(n=ibis.row_number().over(order)).filter(lambda t: t.n == 0)
    latest = latest.select(
        l_patient="patient_id",
        l_date="start_date",
        l_from=(latest.start_date - ibis.interval(days=lookback_days)).cast("date"),
        l_rx="rx_id",
        l_prescriber=latest.prescriber_id.nullif(""),
    )
    earlier = fills.join(
        latest,
        [
            fills.patient_id == latest.l_patient,
            fills.start_date < latest.l_date,
            fills.start_date >= latest.l_from,
        ],
    )
    counts = earlier.group_by("l_patient").aggregate(
        earlier_fills=earlier.count(),
        same_prescriber=(earlier.prescriber_id == earlier.l_prescriber).fill_null(False).cast("int64").sum(),
    )
    joined = latest.left_join(counts, latest.l_patient == counts.l_patient)
    earlier_fills = joined.earlier_fills.fill_null(0)
    flag = ibis.cases(
        (joined.l_prescriber.isnull(), ibis.null("boolean")),
        (earlier_fills == 0, False),
        else_=joined.same_prescriber.fill_null(0) == 0,
    )
    return joined.select(patient_id=joined.l_patient, new_prescriber=flag)


def _restarts(runs: ir.Table, windows: Windows, gap_days: int) -> ir.Table:
    """Whether the latest run of opioid coverage began in the recent window after at least `gap_days`
    without any opioid supply, following earlier supply (`runs`: merged coverage intervals)."""
    order = ibis.window(group_by="patient_id", order_by="start_date")
    ranked = runs.mutate(
        prev_end=runs.end_date.lag().over(order),
        n=ibis.row_number().over(ibis.window(group_by="patient_id", order_by=ibis.desc("start_date"))),
    )
    latest = ranked.filter(ranked.n == 0)
    gap = latest.start_date.delta(latest.prev_end, unit="day") - 1
    restarted = (
        (latest.start_date >= ibis.literal(windows.recent[0])) & latest.prev_end.notnull() & (gap >= gap_days)
    )
    return latest.select("patient_id", restarted_after_gap=restarted.fill_null(False))


def _overlap_at_highest(segments: ir.Table) -> ir.Table:
    """Per patient, the highest MME/day of the window's ranges that hold two fills of one product.

    When it equals the window's highest MME/day, that maximum includes an early refill's overlap.
    """
    overlapped = segments.filter(segments.overlapping_fills > 0)
    return overlapped.group_by("patient_id").aggregate(overlap_max=overlapped.daily_mme.max())


def _problem_records(mme_rows: ir.Table, window: tuple[dt.date, dt.date]) -> ir.Table:
    """Rows the MME stage could not use, dated in the window or undated, per patient."""
    bad = mme_rows.filter(
        mme_rows.status.isin(["insufficient_data", "unrecognized"])
        & (mme_rows.start_date.isnull() | mme_rows.start_date.between(*window))
        & mme_rows.patient_id.notnull()
        & (mme_rows.patient_id != "")
    )
    return bad.group_by("patient_id").aggregate(
        problem_records_180d=bad.count(),
        opioid_problems=(bad.drug_class == "opioid").cast("int64").sum(),
    )


def _dose_gaps(unknown: ir.Table, mme_rows: ir.Table, window: tuple[dt.date, dt.date]) -> ir.Table:
    """Per patient: days in the window covered by opioid supply of unknown MME (no factor in the set),
    and the reasons, with those of opioid records dated in the window that could not be used at all (a
    negative quantity: something was supplied, how much is unknown), in a fixed order. Undated records
    cannot be placed in the window: they are the data-review rule's (problem_records_180d)."""
    days = _days_in(coverage_intervals(unknown), window, "unknown_dose_days_90d")
    inside = unknown.filter((unknown.end_date >= window[0]) & (unknown.start_date <= window[1]))
    unusable = mme_rows.filter(
        (mme_rows.drug_class == "opioid")
        & ~mme_rows.supply.fill_null(False)
        & (mme_rows.status == "insufficient_data")
        & mme_rows.start_date.between(*window)
        & mme_rows.patient_id.notnull()
        & (mme_rows.patient_id != "")
    )
    named = inside.select("patient_id", gap=inside.reason).union(
        unusable.select("patient_id", gap=unusable.reason), distinct=True
    )
    # the first reason in text order, and how many others: the same on every engine (Spark cannot order
    # a string aggregate), short enough for a worklist line; the rows themselves are in the mme output
    gaps = named.group_by("patient_id").aggregate(first=named.gap.min(), others=named.count() - 1)
    gaps = gaps.select(
        "patient_id",
        dose_gap=gaps.first
        + ibis.ifelse(gaps.others > 0, " (and " + gaps.others.cast("string") + " other reasons)", ""),
    )
    return gaps.left_join(days, gaps.patient_id == days.patient_id).select(
        gaps.patient_id, gaps.dose_gap, unknown_dose_days_90d=days.unknown_dose_days_90d.fill_null(0)
    )


def _harm(events: ir.Table, window: tuple[dt.date, dt.date]) -> ir.Table:
    dated = events.mutate(event_date=events.date.cast("string").try_cast("date"))
    inside = dated.filter(dated.event_date.between(*window))
    latest = ibis.window(group_by="patient_id", order_by=ibis.desc("event_date"))
    ranked = inside.mutate(n=ibis.row_number().over(latest))
    label = ranked.kind + " " + ranked.event_date.cast("string")
    return ranked.group_by("patient_id").aggregate(
        harm_events_180d=ranked.count(),
        opioid_overdose_180d=(ranked.kind == "opioid_overdose").cast("int64").sum(),
        last_harm_event=ibis.ifelse(ranked.n == 0, label, ibis.null("string")).max(),
    )


# Flags that are unknown, not false, when the dose is incomplete: for ranking they count as possibly true.
_DOSE_FLAGS = ("high_dose_50", "high_dose_90")


def _rule_expression(node: ast.expr, table: ir.Table) -> ir.Value:
    if isinstance(node, ast.Constant):
        return ibis.literal(node.value)
    if isinstance(node, ast.Name):
        column = table[node.id]
        return column.fill_null(True) if node.id in _DOSE_FLAGS else column
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return ~_rule_expression(node.operand, table).fill_null(False)
    if isinstance(node, ast.BoolOp):
        parts = [_rule_expression(value, table).fill_null(False) for value in node.values]
        result = parts[0]
        for part in parts[1:]:
            result = (result & part) if isinstance(node.op, ast.And) else (result | part)
        return result
    if isinstance(node, ast.Compare):
        left = _rule_expression(node.left, table)
        result = None
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _rule_expression(comparator, table)
            step = {
                ast.GtE: left >= right, ast.Gt: left > right, ast.LtE: left <= right,
                ast.Lt: left < right, ast.Eq: left == right, ast.NotEq: left != right,
            }[type(op)]  # fmt: skip
            result = step if result is None else result & step
            left = right
        return result
    raise ValueError(f"unsupported rule node {ast.dump(node)}")  # parse_rule already refused it


def _priority(table: ir.Table, rules: tuple[PriorityRule, ...], settings: RegistrySettings) -> ir.Table:
    branches = [(_rule_expression(rule.expression, table).fill_null(False), rule) for rule in rules]
    rank = ibis.cases(*[(cond, rule.rank) for cond, rule in branches], else_=ibis.null("int64"))
    values = settings_values(settings)  # a reason names the thresholds in force, not fixed numbers
    reason = ibis.cases(
        *[(cond, with_settings(rule.reason, values)) for cond, rule in branches], else_=ibis.null("string")
    )
    # with a gap, say so: ranked as if above an undecided threshold, or with a lower-bound average
    undecided = table.high_dose_50.isnull() | table.high_dose_90.isnull()
    gap = table.dose_gap.fill_null("")
    reason = ibis.cases(
        (table.dose_complete, reason),
        (undecided, "dose incomplete, ranked as if " + reason + " (the average is a lower bound): " + gap),
        else_=reason + "; dose incomplete, the average is a lower bound: " + gap,
    )
    return table.mutate(priority=rank, priority_reason=reason)


def _reaching(rows: ir.Table, *windows: tuple[dt.date, dt.date]) -> ir.Table:
    """The rows whose dates reach at least one of `windows` (every window ends on the as-of date)."""
    first = min(window[0] for window in windows)
    last = max(window[1] for window in windows)
    return rows.filter((rows.end_date >= first) & (rows.start_date <= last))


@dataclass(frozen=True)
class _Supply:
    """The supply rows each part of the registry counts, cut to what can reach a window."""

    all: ir.Table
    buprenorphine: ir.Table
    any_opioid: ir.Table  # opioids counted for coverage, buprenorphine for pain included
    benzodiazepine: ir.Table
    unknown_dose: ir.Table  # opioid supply whose MME could not be computed (no factor, unusable value)

    @classmethod
    def of(cls, mme_rows: ir.Table, windows: Windows, settings: RegistrySettings) -> _Supply:
        # Only supply that reaches a window matters: the earliest day any part looks at is the start of
        # the new-prescriber look-back before the first day of the registry look-back. Each sweep is cut
        # again to the rows that reach its own window, which gives the same days inside that window as a
        # sweep over the whole history (a day's level depends only on the prescriptions covering it).
        earliest = windows.lookback[0] - dt.timedelta(days=settings.new_prescriber_lookback_days)
        supply = mme_rows.filter(
            mme_rows.supply & (mme_rows.start_date <= windows.as_of) & (mme_rows.end_date >= earliest)
        )
        bup = supply.filter(supply.drug_class == "buprenorphine")
        pain_bup = bup.filter(bup.route.isin(settings.buprenorphine_for_pain_routes))
        opioid = supply.filter((supply.drug_class == "opioid") & (supply.status != "excluded"))
        any_opioid = opioid.union(pain_bup, distinct=False)
        return cls(
            all=supply,
            buprenorphine=bup,
            any_opioid=any_opioid,
            benzodiazepine=supply.filter(supply.drug_class == "benzodiazepine"),
            # counted supply without a known MME: an opioid, or a buprenorphine patch in a set that counts
            # it (UK OME); buprenorphine a set does not count is `excluded`, not unknown
            unknown_dose=any_opioid.filter(~any_opioid.status.isin(["ok", "excluded"])),
        )


def _population(supply: _Supply, problems: ir.Table, windows: Windows) -> ir.Table:
    # Records that could not be used stay visible: a patient whose opioid records are all unusable is
    # listed with a count of them instead of vanishing from the worklist.
    with_problem_opioids = problems.filter(problems.opioid_problems > 0).select("patient_id")
    any_opioid = supply.any_opioid
    return (
        any_opioid.filter(any_opioid.end_date >= windows.lookback[0])
        .select("patient_id")
        .union(with_problem_opioids, distinct=False)
        .distinct()
    )


def registry_population(mme_rows: ir.Table, as_of: dt.date, settings: RegistrySettings) -> ir.Table:
    """The registry's patients (``patient_id``): what `registry` lists, without computing its columns.

    For callers that want something else about the same patients first (the registry command sweeps
    their whole history for trajectories and hands the segments back to `registry`).
    """
    windows = Windows.ending(as_of, settings)
    problems = _problem_records(mme_rows, windows.lookback)
    return _population(_Supply.of(mme_rows, windows, settings), problems, windows)


def registry(
    mme_rows: ir.Table,
    as_of: dt.date,
    settings: RegistrySettings,
    rules: tuple[PriorityRule, ...],
    events: ir.Table | None = None,
    segments: ir.Table | None = None,
    early_refills: EarlyRefills = DEFAULT_EARLY_REFILLS,
    dates: DateRange | None = None,
) -> ir.Table:
    """The registry as an engine table (REGISTRY_COLUMNS, then HARM_COLUMNS when events are given).

    `segments`: `constant_segments` of `mme_rows` (at least of the registry's patients, over the recent
    window) when the caller already has them; without them the registry sweeps only the rows that reach
    its window. `early_refills`: how fills of one product that overlap count (`taperwise.exposure.refills`);
    a caller that passes `segments` has applied it to `mme_rows` and to them already. `dates`: the run's
    plausible range, which carrying forward never moves supply past (`taperwise.exposure.refills`).
    """
    if segments is None:
        mme_rows = apply_early_refills(mme_rows, early_refills, dates)
    windows = Windows.ending(as_of, settings)
    supply = _Supply.of(mme_rows, windows, settings)
    problems = _problem_records(mme_rows, windows.lookback)
    population = _population(supply, problems, windows)
    in_recent = _reaching(supply.all, windows.recent)
    if segments is None:
        segments = segments_by_patient(in_recent)
    recent = window_metrics(in_recent, _reaching(segments, windows.recent), *windows.recent).select(
        "patient_id", avg_daily_mme_90d="mme3", max_daily_mme_90d="mme4"
    )
    opioid_cover = coverage_intervals(_reaching(supply.any_opioid, windows.recent, windows.ltot))
    bup_cover = coverage_intervals(_reaching(supply.buprenorphine, windows.recent))
    benzo_cover = coverage_intervals(_reaching(supply.benzodiazepine, windows.recent))
    parts = [
        recent,
        _days_in(opioid_cover, windows.recent, "days_covered_90d"),
        _days_in(opioid_cover, windows.ltot, "days_covered_ltot"),
        _days_in(bup_cover, windows.recent, "buprenorphine_days_90d"),
        _benzo_overlap(opioid_cover, benzo_cover, windows.recent),
        _providers(supply.any_opioid, windows.lookback),
        _new_prescriber(supply.any_opioid, windows, settings.new_prescriber_lookback_days),
        problems.select("patient_id", "problem_records_180d"),
        _dose_gaps(_reaching(supply.unknown_dose, windows.recent), mme_rows, windows.recent),
        _reaching(segments, (as_of, as_of)).select("patient_id", current_daily_mme="daily_mme"),
        _overlap_at_highest(_reaching(segments, windows.recent)),
        _restarts(coverage_intervals(supply.any_opioid), windows, settings.restart_gap_days),
    ]
    if events is not None:
        parts.append(_harm(events, windows.harm))
    table = population
    for number, part in enumerate(parts):
        key = f"_patient_{number}"
        keyed = part.rename({key: "patient_id"})
        table = table.left_join(keyed, table.patient_id == keyed[key]).drop(key)
    return _flags(table, settings, rules, with_harm=events is not None)


@dataclass(frozen=True)
class RegistryRun:
    """A registry with the segments of its patients' whole history (for trajectories), both ordered.

    Use it as a context manager: leaving it frees what the engine holds for it (temporary tables on
    DuckDB, persisted frames on Spark), before the connection closes.
    """

    table: ir.Table
    segments: ir.Table
    held: tuple[ir.CachedTable, ...]
    prescriptions: ir.Table | None = None  # the per-row MME itself, with keep_rows

    def __enter__(self) -> RegistryRun:
        return self

    def __exit__(self, *_: object) -> None:
        for cached in self.held:
            cached.release()


def run_registry(
    mme_rows: ir.Table,
    as_of: dt.date,
    settings: RegistrySettings,
    rules: tuple[PriorityRule, ...],
    events: ir.Table | None = None,
    *,
    keep_rows: bool = False,
    early_refills: EarlyRefills = DEFAULT_EARLY_REFILLS,
    dates: DateRange | None = None,
) -> RegistryRun:
    """The registry and its patients' segments, with the per-row MME computed once for both.

    This executes on the engine: the per-row MME (the columns the registry reads) and the segments are
    materialised — a temporary table on DuckDB, a persisted frame on Spark — and both outputs read them.
    The registry takes its recent-window dose from those segments, so each prescription is swept once.
    With `keep_rows` every column of the per-row MME is materialised, and `prescriptions` gives those very
    rows (as `taperwise mme` writes them) for publishing: the store shows what the registry computed.
    `early_refills` applies to what the registry and segments count, not to those rows' own dates;
    `dates` is the run's plausible range (the one the per-row MME was computed with).
    """
    held: list[ir.CachedTable] = []
    if keep_rows:
        full = mme_rows.cache()
        held.append(full)
        prescriptions: ir.Table | None = full.order_by(ROW).select(*MME_COLUMNS, *EXTRA_COLUMNS)
        rows = apply_early_refills(full.select(*REGISTRY_INPUT_COLUMNS), early_refills, dates)
    else:
        prescriptions = None
        rows = apply_early_refills(mme_rows.select(*REGISTRY_INPUT_COLUMNS), early_refills, dates)
    if not keep_rows or early_refills != "add":  # with keep_rows and nothing moved, `full` is the cache
        rows = rows.cache()
        held.append(rows)
    patients = registry_population(rows, as_of, settings)
    segments = segments_by_patient(rows.semi_join(patients, "patient_id")).cache()
    table = registry(rows, as_of, settings, rules, events, segments=segments)
    ordered = segments.select(*SEGMENT_COLUMNS).order_by(["patient_id", "start_date"])
    return RegistryRun(table, ordered, (*held, segments), prescriptions)


def _flags(
    table: ir.Table, settings: RegistrySettings, rules: tuple[PriorityRule, ...], with_harm: bool
) -> ir.Table:
    zero = ibis.literal(0).cast("int64")
    low, high = settings.high_dose_thresholds
    filled = table.mutate(
        avg_daily_mme_90d=table.avg_daily_mme_90d.fill_null(0),
        max_daily_mme_90d=table.max_daily_mme_90d.fill_null(0),
        days_covered_90d=table.days_covered_90d.fill_null(zero),
        benzo_overlap_days_90d=table.benzo_overlap_days_90d.fill_null(zero),
        prescribers_180d=table.prescribers_180d.fill_null(zero),
        pharmacies_180d=table.pharmacies_180d.fill_null(zero),
        buprenorphine_days_90d=table.buprenorphine_days_90d.fill_null(zero),
        problem_records_180d=table.problem_records_180d.fill_null(zero),
        unknown_dose_days_90d=table.unknown_dose_days_90d.fill_null(zero),
        current_daily_mme=table.current_daily_mme.fill_null(0).cast(MME_TYPE),
        restarted_after_gap=table.restarted_after_gap.fill_null(False),
        max_includes_overlap_90d=(table.overlap_max == table.max_daily_mme_90d).fill_null(False),
        dose_complete=table.dose_gap.isnull(),
        ltot=table.days_covered_ltot.fill_null(zero) >= settings.ltot_min_days,
        harm_events_180d=table.harm_events_180d.fill_null(zero) if with_harm else zero,
        opioid_overdose_180d=table.opioid_overdose_180d.fill_null(zero) if with_harm else zero,
    )

    def at_least(threshold: int) -> ir.BooleanValue:
        # a lower bound at or above a threshold is above it; below it, with a gap, nobody knows
        above = filled.avg_daily_mme_90d >= threshold
        return ibis.ifelse(above | filled.dose_complete, above, ibis.null("boolean"))

    flagged = filled.mutate(
        high_dose_50=at_least(low),
        high_dose_90=at_least(high),
        multi_provider=(filled.prescribers_180d >= settings.min_prescribers)
        & (filled.pharmacies_180d >= settings.min_pharmacies),
    )
    ranked = _priority(flagged, rules, settings)
    columns = REGISTRY_COLUMNS + (HARM_COLUMNS if with_harm else ())
    return ranked.select(*columns).order_by(["priority", ibis.desc("avg_daily_mme_90d"), "patient_id"])
