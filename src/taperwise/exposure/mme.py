"""Daily MME for every prescription row (clinical-rules §1), as one engine expression.

The rule of this module: every input row comes back, in input order, with a ``status`` and, when it is not
``ok``, a ``reason`` that names the problem. Rows are never dropped and never guessed: a value that cannot
be read is reported, not replaced. Statuses, in order of precedence:

``unrecognized``       the product text (or code) could not be read as a product;
``not_opioid``         a recognised product with no opioid (benzodiazepines keep their coverage columns);
``excluded``           an opioid that is not counted: buprenorphine (partial agonist, reported separately;
                       patches are counted where the factor set says so, as the UK OME sets do),
                       injectables, inpatient administrations, cough/cold combinations, cancelled or
                       entered-in-error records, repeated ``rx_id``;
``insufficient_data``  an opioid whose quantity, supply, sig or factor does not allow a daily MME;
``ok``                 counted.

Formula (CDC NDC/MME file): daily MME = strength per unit × units per day × factor, where units per day
come from the structured sig when given and from quantity ÷ days supply otherwise; for patches the units are
patches worn at the same time and the factor is per mcg/hr worn, so a 72-hour patch is never counted twice.

The expression is built in stages (`_numbers`, `_rates`, `_factors`, `_statuses`), each selecting named
columns the next one reads: written as one nested expression, SQL compilers inline every reuse and the
query grows exponentially. What depends on the product alone is computed before any of them, on the table
of distinct products (`_product_level`), and joined with the product (ADR 0017).
"""

from __future__ import annotations

from collections.abc import Callable

import ibis
import ibis.expr.types as ir

from taperwise.exposure.dose import MME_DECIMALS
from taperwise.exposure.factors import join_factors
from taperwise.exposure.prescriptions import READ_PROBLEM_COLUMN, ROW
from taperwise.exposure.products import resolve_products
from taperwise.knowledge.codes import CodeTable
from taperwise.knowledge.factors import DEFAULT_FACTOR_SET, FactorSet, load_factor_set
from taperwise.plausible import (
    MAX_DAILY_MME,
    MAX_DAYS_SUPPLY,
    MAX_QUANTITY,
    MAX_STRENGTH,
    MAX_UNITS_PER_DAY,
    DateRange,
    out_of_range_words,
)

MME_TYPE = f"decimal(18, {MME_DECIMALS})"
MME_COLUMNS = (
    "rx_id",
    "patient_id",
    "ingredient",
    "strength",
    "strength_unit",
    "units_per_day",
    "covered_days",
    "mme_factor",
    "factor_source",
    "daily_mme",
    "status",
    "reason",
)
# Extra columns beyond CONTRACTS.md, kept after the contract columns so the contract order holds.
EXTRA_COLUMNS = ("drug_class", "route", "release", "start_date", "end_date", "flags", "supply")
# Kept from the input for the registry's fragmentation flags and for de-duplication.
CARRIED_COLUMNS = ("prescriber_id", "pharmacy_id", "source")

CANCELLED_STATUSES = ("entered-in-error", "cancelled", "canceled", "declined", "draft")
INJECTABLE_ROUTES = (
    "injection", "injectable", "intravenous", "iv", "intramuscular", "im", "subcutaneous", "sc",
    "epidural", "intrathecal",
)  # fmt: skip
INPATIENT_SETTINGS = ("inpatient", "hospital", "ip")
TRUE_WORDS = ("true", "t", "yes", "y", "1", "prn")
LIQUID_UNITS = ("mg/mL", "mcg/mL")
STRENGTH_UNITS = ("mg", "mcg", "mcg/hr", "mg/mL", "mcg/mL")
# A start date as the input contract writes it (a time after it is allowed). Engines read other forms
# differently ('2025-02-01 (BC)' is a date before Christ on DuckDB and in 2025 on Spark), so a date in
# any other form is not read: a date outside the plausible range must be outside it on every engine.
DATE_TEXT = r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([T ][0-9]{1,2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?)?$"


def _blank(column: ir.StringValue) -> ir.BooleanValue:
    return column.isnull() | (column == "")


def _quoted(column: ir.StringValue) -> ir.StringValue:
    return "'" + column.coalesce("") + "'"


def _positive(text: ir.StringValue) -> ir.FloatingValue:
    """The number if the text is a finite number above zero, else null."""
    value = text.try_cast("float64")
    good = value.notnull() & (value > 0) & ~value.isinf() & ~value.isnan()
    return ibis.ifelse(good, value, ibis.null("float64"))


def _beyond(value: ir.FloatingValue, maximum: float) -> ir.BooleanValue:
    """Whether a number (null: none) is beyond what taperwise computes with (`taperwise.plausible`)."""
    return (value > maximum).fill_null(False)


def _within(value: ir.FloatingValue, maximum: float) -> ir.FloatingValue:
    """The number when it is within `maximum`, else null: every later cast and date sum then fits."""
    return ibis.ifelse(value <= maximum, value, ibis.null("float64"))


def _out_of_range(field: str, shown: ir.StringValue | str, maximum: float) -> ir.StringValue:
    """`taperwise.plausible.number_problem`'s sentence, the value shown as written."""
    return field + " " + shown + out_of_range_words(maximum)


Problems = list[tuple[ir.BooleanValue, ir.StringValue | str]]


def _any(parts: Problems) -> ir.BooleanValue:
    """Whether any condition of `parts` holds (a null condition does not)."""
    holds = [condition.fill_null(False) for condition, _ in parts]
    result = holds[0]
    for h in holds[1:]:
        result = result | h
    return result


def _join_reasons(parts: Problems) -> ir.StringValue:
    """The messages whose condition holds, joined by "; "; null when none holds.

    Statuses are decided on `_any` alone, so the text is built only where a ``reason`` column is asked
    for, and only for rows with a problem: most rows have none.
    """
    pieces = [
        ibis.ifelse(condition.fill_null(False), message, ibis.null("string")) for condition, message in parts
    ]
    return ibis.ifelse(_any(parts), ibis.literal("; ").join(pieces), ibis.null("string"))


def _product_level(fs: FactorSet) -> Callable[[ir.Table], ir.Table]:
    """What depends on the product alone, computed on the product table (`resolve_products`): a few
    thousand distinct products rather than every row. Rows whose product did not join read these as null,
    so every use fills a null in."""

    def derive(p: ir.Table) -> ir.Table:
        class_exclusion = _class_exclusion(p, fs)
        counted = p.p_class == "opioid"
        if fs.buprenorphine_routes:
            counted = counted | _counted_buprenorphine(p, fs)
        return p.mutate(
            p_is_patch=(p.p_route == "transdermal").fill_null(False),
            p_opioid_like=p.p_class.isin(["opioid", "buprenorphine"]).fill_null(False),
            p_counted=counted.fill_null(False),
            p_class_excluded=_any(class_exclusion),
            p_class_reason=_join_reasons(class_exclusion),
            p_not_opioid_reason=(
                p.p_class.coalesce("other") + " (" + p.p_ingredient.coalesce("?") + "): not an opioid"
            ),
        )

    return derive


def _numbers(t: ir.Table, dates: DateRange) -> ir.Table:
    """Typed values beside the text they came from (the text stays for error messages).

    A number beyond its bound (`taperwise.plausible`) or a start date outside the plausible range is
    null here, as an unreadable one is, with a flag saying why: nothing later computes with it.
    """
    override = _positive(t.strength)
    unit_known = t.strength_unit.isin(STRENGTH_UNITS).fill_null(False)
    has_override = _within(override, MAX_STRENGTH).notnull() & unit_known
    # bounded before `floor`, which an engine may compute as a 64-bit integer
    days = _within(_positive(t.days_supply), MAX_DAYS_SUPPLY)
    qty, sig = _positive(t.quantity), _positive(t.units_per_day)
    start = ibis.ifelse(
        t.start_date.re_search(DATE_TEXT).fill_null(False), t.start_date.try_cast("date"), ibis.null("date")
    )
    early = (start < ibis.literal(dates.earliest)).fill_null(False)
    late = (start > ibis.literal(dates.latest)).fill_null(False)
    return t.mutate(
        qty=_within(qty, MAX_QUANTITY),
        qty_beyond=_beyond(qty, MAX_QUANTITY),
        days=ibis.ifelse(days == days.floor(), days, ibis.null("float64")),
        days_beyond=_beyond(_positive(t.days_supply), MAX_DAYS_SUPPLY),
        sig=_within(sig, MAX_UNITS_PER_DAY),
        sig_beyond=_beyond(sig, MAX_UNITS_PER_DAY),
        strength_beyond=_beyond(override, MAX_STRENGTH),
        start=ibis.ifelse(early | late, ibis.null("date"), start),
        start_early=early,
        start_late=late,
        prn=t.as_needed.lower().isin(TRUE_WORDS).fill_null(False),
        is_patch=t.p_is_patch.fill_null(False),
        has_override=has_override,
        strength_value=ibis.ifelse(has_override, override, t.p_strength),
        unit=ibis.ifelse(has_override, t.strength_unit, t.p_strength_unit),
    )


def _rates(t: ir.Table, dates: DateRange) -> ir.Table:
    """Units per day and covered days (clinical-rules §1)."""
    # Patches: units are patches worn at once; quantity × wear days ÷ supply when there is no sig.
    from_supply = ibis.ifelse(t.is_patch, t.qty * t.p_wear_days / t.days, t.qty / t.days)
    # A tiny sig makes a duration of millions of days: bounded before `ceil` and the day count's cast.
    quantity_days = ibis.ifelse(t.is_patch, t.qty * t.p_wear_days / t.sig, t.qty / t.sig)
    by_quantity = _within(quantity_days, MAX_DAYS_SUPPLY).ceil().cast("float64")
    # Supply bounds coverage at the sig's rate; not for "as needed" or patches, where the sig is a maximum
    # or a count worn at once rather than a consumption rate.
    bound = ibis.ifelse(t.prn | t.is_patch, ibis.null("float64"), by_quantity)
    covered = ibis.ifelse(t.days.notnull(), ibis.least(t.days, bound.coalesce(t.days)), by_quantity)
    amount_unit = ibis.ifelse(t.unit == "mcg/hr", "mcg/hr", t.unit.split("/")[0].cast("string"))
    days = covered.cast("int64")
    # The supply's last day, start + days − 1, compared as a count of days: no date past the range is made.
    ends_late = (days - 1 > ibis.literal(dates.latest).delta(t.start, unit="day")).fill_null(False)
    return t.mutate(
        rate=ibis.ifelse(t.prn, from_supply.coalesce(t.sig), t.sig.coalesce(from_supply)),
        use_sig_max=t.prn & from_supply.isnull() & t.sig.notnull(),
        covered=days,
        duration_beyond=t.days.isnull() & _beyond(quantity_days, MAX_DAYS_SUPPLY),
        ends_late=ends_late,
        amount_unit=amount_unit,
    )


def _factors(t: ir.Table, fs: FactorSet) -> ir.Table:
    t = join_factors(t.mutate(daily_amount=t.rate * t.strength_value), fs, "daily_amount")
    mme = t.daily_amount * t.f_multiplier * t.f_factor
    return t.mutate(
        factor=t.f_factor,
        source=t.f_source,
        # bounded before the DECIMAL cast, which a larger value would overflow
        mme=_within(mme, MAX_DAILY_MME).round(MME_DECIMALS).cast(MME_TYPE),
        mme_beyond=_beyond(mme, MAX_DAILY_MME),
    )


def _repeated_ids(prescriptions: ir.Table) -> ir.Table:
    """Each ``rx_id`` used by more than one input row, with the first row that used it (``_first``).

    An aggregate over the raw input, joined back, rather than a window over every id: repeats are rare,
    and a window partitioned by id sorts the whole input. Empty ids are grouped too and set aside where
    the groups are joined (`_mark_repeats`): a filter on the id here costs more than the aggregate itself,
    because DuckDB pushes it into the file scan, below the grouping.
    """
    ids = prescriptions.select(_rx="rx_id", _first=prescriptions[ROW])
    repeats = ids.group_by("_rx").aggregate(_first=ids._first.min(), _n=ids.count())
    return repeats.filter(repeats._n > 1).drop("_n")


def _mark_repeats(t: ir.Table, repeats: ir.Table) -> ir.Table:
    joined = t.left_join(repeats, t.rx_id == repeats._rx)
    # an empty id is reported as empty ("rx_id is empty"), never as a repeat (a null one matches no group)
    later = joined._first.notnull() & (joined[ROW] > joined._first) & (joined.rx_id != "")
    return joined.mutate(
        repeated=later, first_row=ibis.ifelse(later, joined._first, ibis.null("int64"))
    ).drop("_rx", "_first")


def _unrecognized(t: ir.Table) -> Problems:
    return [
        (t[READ_PROBLEM_COLUMN].notnull(), t[READ_PROBLEM_COLUMN]),
        (_blank(t.drug) & t[READ_PROBLEM_COLUMN].isnull(), "drug is empty"),
        (~_blank(t.drug) & ~t.p_recognized.fill_null(False), t.p_reason.coalesce("product not recognised")),
    ]


def _counted_buprenorphine(t: ir.Table, fs: FactorSet) -> ir.BooleanValue:
    """Buprenorphine the set counts (`FactorSet.counts_buprenorphine`: patches under the UK sets)."""
    if not fs.buprenorphine_routes:
        return ibis.literal(False)
    return (t.p_class == "buprenorphine") & t.p_route.isin(fs.buprenorphine_routes).fill_null(False)


def _class_exclusion(t: ir.Table, fs: FactorSet) -> Problems:
    """Products that are supply but never in the MME total."""
    if fs.buprenorphine_routes:
        buprenorphine = (t.p_class == "buprenorphine") & ~_counted_buprenorphine(t, fs)
        # The words of `FactorSet.buprenorphine_exclusion`, with the row's route.
        message: ir.StringValue | str = (
            "buprenorphine (" + t.p_route.coalesce("?")
            + f"): not counted; {fs.set_id} counts only buprenorphine patches"
        )  # fmt: skip
    else:
        buprenorphine, message = t.p_class == "buprenorphine", fs.buprenorphine_exclusion("")
    return [(buprenorphine, message), (t.p_cough_cold, "cough/cold combination: not counted")]


def _record_exclusion(t: ir.Table) -> Problems:
    """Records that are not community supply at all (and so count for no flag either)."""
    injectable = (t.p_route == "injection") | t.route.lower().isin(INJECTABLE_ROUTES)
    return [
        (injectable, "injectable: not counted by default"),
        (t.setting.lower().isin(INPATIENT_SETTINGS), "inpatient administration: not counted by default"),
        (
            t.status.lower().isin(CANCELLED_STATUSES),
            "record status " + _quoted(t.status) + ": not a supply",
        ),
        (t.repeated, "rx_id repeats input row " + (t.first_row + 1).cast("string")),
    ]


def _end_text(t: ir.Table) -> ir.StringValue:
    """The supply's last day as text; engines write a year past 9999 differently, so it is not shown."""
    last = (t.start + (t.covered - 1).as_interval("D")).cast("date")
    past = (t.covered - 1 > ibis.date(9999, 12, 31).delta(t.start, unit="day")).fill_null(False)
    return ibis.ifelse(past, "past 9999-12-31", last.strftime("%Y-%m-%d"))


def _value_problems(t: ir.Table, dates: DateRange) -> Problems:
    """Values that are present but unusable: each message quotes the value as it was written.

    Numbers beyond their bounds and dates outside the plausible range are said in the words of
    `taperwise.plausible`, the field named and the value as written.
    """
    override_given = ~_blank(t.strength) | ~_blank(t.strength_unit)
    override_message = (
        "strength override " + _quoted(t.strength) + " " + _quoted(t.strength_unit)
        + " needs a number above zero and a unit among " + ", ".join(STRENGTH_UNITS)
    )  # fmt: skip
    return [
        (_blank(t.patient_id), "patient_id is empty"),
        (_blank(t.rx_id), "rx_id is empty"),
        (
            t.start.isnull() & ~t.start_early & ~t.start_late,
            "start_date " + _quoted(t.start_date) + " is not a date (YYYY-MM-DD)",
        ),
        (t.start_early, "start_date " + t.start_date + dates.before_words()),
        (t.start_late, "start_date " + t.start_date + dates.after_words()),
        (
            ~_blank(t.quantity) & t.qty.isnull() & ~t.qty_beyond,
            "quantity " + _quoted(t.quantity) + " must be a number above zero",
        ),
        (t.qty_beyond, _out_of_range("quantity", t.quantity, MAX_QUANTITY)),
        (
            ~_blank(t.days_supply) & t.days.isnull() & ~t.days_beyond,
            "days_supply " + _quoted(t.days_supply) + " must be a whole number above zero",
        ),
        (t.days_beyond, _out_of_range("days_supply", t.days_supply, MAX_DAYS_SUPPLY)),
        (
            ~_blank(t.units_per_day) & t.sig.isnull() & ~t.sig_beyond,
            "units_per_day " + _quoted(t.units_per_day) + " must be a number above zero",
        ),
        (t.sig_beyond, _out_of_range("units_per_day", t.units_per_day, MAX_UNITS_PER_DAY)),
        (override_given & ~t.has_override & ~t.strength_beyond, override_message),
        (t.strength_beyond, _out_of_range("strength", t.strength, MAX_STRENGTH)),
        (
            t.duration_beyond,
            _out_of_range("covered_days", "(quantity ÷ units_per_day)", MAX_DAYS_SUPPLY),
        ),
        (t.ends_late, "end_date " + _end_text(t) + dates.after_words()),
    ]


def _dose_problems(t: ir.Table, fs: FactorSet) -> Problems:
    """What keeps a daily dose or a duration from being known."""
    numbers_bad = (
        (~_blank(t.quantity) & t.qty.isnull())
        | (~_blank(t.days_supply) & t.days.isnull())
        | (~_blank(t.units_per_day) & t.sig.isnull())
    )
    is_liquid = t.unit.isin(LIQUID_UNITS).fill_null(False)
    unit_given = ~_blank(t.quantity_unit)
    no_factor = (
        t.p_counted.fill_null(False) & t.factor.isnull() & t.rate.notnull() & t.strength_value.notnull()
    )
    no_factor_message = (
        "factor set " + ibis.literal(fs.set_id) + " has no factor for " + t.p_ingredient.coalesce("?")
        + " (" + t.p_factor_route.coalesce("?") + ", " + t.amount_unit.coalesce("?") + ")"
    )  # fmt: skip
    return [
        (t.is_patch & t.p_wear_days.isnull() & t.sig.isnull(), "patch with no known wear time and no sig"),
        (
            t.rate.isnull() & ~numbers_bad,
            "daily dose unknown: give days_supply with quantity, or units_per_day",
        ),
        (
            t.covered.isnull() & t.rate.notnull() & ~t.duration_beyond,
            "duration unknown: give days_supply, or quantity with units_per_day",
        ),
        (
            is_liquid & unit_given & ~t.quantity_unit.lower().isin(["ml", "milliliter", "millilitre"]),
            "liquid quantity unit " + _quoted(t.quantity_unit) + " must be mL",
        ),
        (
            is_liquid & ~unit_given & (t.qty < 5),
            "liquid quantity " + _quoted(t.quantity) + " looks like a count of bottles; give mL",
        ),
        (no_factor, no_factor_message),
        (
            t.mme_beyond,
            _out_of_range("daily_mme", "(strength × units_per_day × factor)", MAX_DAILY_MME),
        ),
    ]


def _reasons(t: ir.Table, fs: FactorSet, dates: DateRange) -> ir.Table:
    """A flag for each kind of problem (what statuses are decided on) and the text naming it."""
    unrecognized, values = _unrecognized(t), _value_problems(t, dates)
    # the product's own exclusion (`_product_level`), then the record's
    class_exclusion: Problems = [(t.p_class_excluded, t.p_class_reason)]
    record_exclusion = _record_exclusion(t)
    data = values + _dose_problems(t, fs)
    return t.mutate(
        is_opioid_like=t.p_opioid_like.fill_null(False),
        is_unrecognized=_any(unrecognized),
        is_excluded=_any(class_exclusion + record_exclusion),
        is_record_excluded=_any(record_exclusion),
        has_value_problem=_any(values),
        has_data_problem=_any(data),
        unrecognized_reason=_join_reasons(unrecognized),
        excluded_reason=_join_reasons(class_exclusion + record_exclusion),
        data_reason=_join_reasons(data),
    )


def _statuses(t: ir.Table) -> ir.Table:
    status = ibis.cases(
        (t.is_unrecognized, "unrecognized"),
        (~t.is_opioid_like, "not_opioid"),
        (t.is_excluded, "excluded"),
        (t.has_data_problem, "insufficient_data"),
        else_="ok",
    )
    reason = ibis.cases(
        (t.is_unrecognized, t.unrecognized_reason),
        (~t.is_opioid_like, t.p_not_opioid_reason),
        # most excluded rows are excluded for their product alone: its reason, made once per product
        (
            t.is_excluded,
            ibis.ifelse(
                t.is_record_excluded | t.has_data_problem,
                t.excluded_reason + ("; " + t.data_reason).coalesce(""),
                t.p_class_reason,
            ),
        ),
        else_=t.data_reason,
    )
    # A real community supply with known dates: what coverage-based flags (LTOT, benzodiazepine overlap,
    # buprenorphine days) count, whatever the MME status.
    supply = (
        ~t.is_unrecognized
        & ~t.is_record_excluded
        & ~t.has_value_problem
        & t.start.notnull()
        & t.covered.notnull()
        & ~_blank(t.patient_id)
    )
    return t.mutate(status=status, reason=reason, supply=supply)


def _supply_flags(t: ir.Table) -> Problems:
    """A duration the record did not state (ingest's ``supply_days_source``, ADR 0012), said on the row."""
    source = t.supply_days_source.lower()
    return [
        (
            source == "assumed",
            "days_supply " + t.days_supply.coalesce("?")
            + " assumed (--assume-order-days): the order gives no duration",
        ),
        (source == "sig_bounds", "days_supply from the sig's bounds (course length)"),
    ]  # fmt: skip


def _output(t: ir.Table) -> ir.Table:
    counted = t.status == "ok"
    covered = ibis.ifelse(t.status == "unrecognized", ibis.null("int64"), t.covered)
    return t.select(
        ROW,
        "rx_id",
        "patient_id",
        ingredient=t.p_ingredient,
        strength=t.strength_value,
        strength_unit=t.unit,
        units_per_day=t.rate,
        covered_days=covered,
        mme_factor=ibis.ifelse(counted, t.factor, ibis.null("float64")),
        factor_source=ibis.ifelse(counted, t.source, ibis.null("string")),
        daily_mme=ibis.ifelse(counted, t.mme, ibis.null(MME_TYPE)),
        status=t.status,
        reason=t.reason,
        drug_class=t.p_class,
        route=ibis.ifelse(_blank(t.route), t.p_route, t.route.lower()),
        release=t.p_release,
        start_date=t.start,
        # a supply ending after the plausible range is reported (`_value_problems`), its end never written
        end_date=ibis.ifelse(
            t.ends_late, ibis.null("date"), (t.start + (covered - 1).as_interval("D")).cast("date")
        ),
        flags=_join_reasons(
            [(t.use_sig_max, "prn_max"), (t.p_notes.notnull(), t.p_notes), *_supply_flags(t)]
        ),
        supply=t.supply,
        **{name: t[name] for name in CARRIED_COLUMNS},
    )


def prescription_mme(
    prescriptions: ir.Table,
    factor_set: str = DEFAULT_FACTOR_SET,
    codes: CodeTable | None = None,
    dates: DateRange | None = None,
    products: ir.Table | None = None,
) -> ir.Table:
    """Per-row daily MME with status and reason: ``_row``, MME_COLUMNS, EXTRA_COLUMNS, CARRIED_COLUMNS.

    `dates`: the plausible range a start date and a supply's end must fall in; by default the one the
    environment sets today (`DateRange.from_environment`). A command computes it once per run, passes
    the same range to every stage and records it in the output's metadata. `products`: the product table
    when the caller has it (`resolve_products`).
    """
    fs = load_factor_set(factor_set)
    dates = dates or DateRange.from_environment()
    staged = _numbers(resolve_products(prescriptions, fs, codes, _product_level(fs), products), dates)
    staged = _mark_repeats(_factors(_rates(staged, dates), fs), _repeated_ids(prescriptions))
    return _output(_statuses(_reasons(staged, fs, dates)))
