"""A factor set as an engine table, built from the same rows `taperwise.exposure.dose` reads.

Each factor row becomes one row per amount unit it can multiply (a mg factor also takes mcg amounts, at
1/1000). Prescriptions join it on ingredient, route key and amount unit, with the dose tier tested on the
prescription's own daily amount; tiers are disjoint, so a row matches at most one factor. Nothing here
knows a number: the numbers are in the CSV files.
"""

from __future__ import annotations

from decimal import Decimal

import ibis.expr.types as ir
import pyarrow as pa

from taperwise.exposure.dose import AMOUNT_TO_FACTOR_UNIT
from taperwise.exposure.engine import lookup_table
from taperwise.knowledge.factors import FactorSet

# Tier bounds are compared on a daily amount rounded to this many places (in its own unit), so that
# 59.99999999 from floating-point division lands in the same tier as the 60 a pharmacist would write.
TIER_DECIMALS = 6
# Stand-ins for an open tier bound: daily amounts are above zero and far below 1e300.
OPEN_BELOW = -1.0
OPEN_ABOVE = 1e300

FACTOR_SCHEMA = pa.schema(
    [
        ("f_ingredient", pa.string()),
        ("f_route", pa.string()),
        ("f_amount_unit", pa.string()),
        ("f_multiplier", pa.float64()),
        ("f_dose_above", pa.float64()),
        ("f_dose_up_to", pa.float64()),
        ("f_factor", pa.float64()),
        ("f_source", pa.string()),
    ]
)


def _in_amount_unit(bound: Decimal | None, multiplier: Decimal) -> float | None:
    return None if bound is None else float(bound / multiplier)


def factor_rows(fs: FactorSet) -> pa.Table:
    """One row per (factor row, amount unit it accepts)."""
    rows = []
    for factor in fs.factors:
        for (amount_unit, factor_unit), multiplier in AMOUNT_TO_FACTOR_UNIT.items():
            if factor_unit != factor.unit:
                continue
            rows.append(
                {
                    "f_ingredient": factor.ingredient,
                    "f_route": factor.route,
                    "f_amount_unit": amount_unit,
                    "f_multiplier": float(multiplier),
                    # Tier bounds in the prescription's amount unit (exact decimal division), so the join
                    # compares a prescription column with a factor column and can hash on the keys.
                    "f_dose_above": _in_amount_unit(factor.dose_above, multiplier),
                    "f_dose_up_to": _in_amount_unit(factor.dose_up_to, multiplier),
                    "f_factor": float(factor.factor),
                    "f_source": fs.citation(factor),
                }
            )
    return pa.Table.from_pylist(rows, schema=FACTOR_SCHEMA)


def join_factors(t: ir.Table, fs: FactorSet, daily_amount: str) -> ir.Table:
    """`t` with the f_* columns of its factor (null where the set has none; reported upstream).

    `t` needs ``p_ingredient``, ``p_route_key`` (from `FactorSet.route_key`), ``amount_unit`` and the
    column named by `daily_amount`.
    """
    t = t.mutate(_tier_amount=t[daily_amount].round(TIER_DECIMALS))
    f = lookup_table(t, factor_rows(fs))
    amount = t._tier_amount
    condition = [
        t.p_ingredient == f.f_ingredient,
        t.p_route_key == f.f_route,
        t.amount_unit == f.f_amount_unit,
        # Open tier bounds as numbers rather than "is null or …", so the engine can hash-join on the
        # three equalities (an OR makes DuckDB fall back to a nested-loop join).
        amount > f.f_dose_above.fill_null(OPEN_BELOW),
        amount <= f.f_dose_up_to.fill_null(OPEN_ABOVE),
    ]
    return t.left_join(f, condition).drop("_tier_amount")
