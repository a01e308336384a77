"""A factor set as an engine table, built from the same rows `taperwise.exposure.dose` reads.

Each factor row becomes one row per amount unit it can multiply (a mg factor also takes mcg amounts, at
1/1000). Prescriptions join it on ingredient, route key and amount unit, with the dose tier tested on the
prescription's own daily amount; tiers are disjoint, so a row matches at most one factor. Nothing here
knows a number: the numbers are in the CSV files.
"""

from __future__ import annotations

import ibis.expr.types as ir
import pyarrow as pa

from taperwise.exposure.dose import AMOUNT_TO_FACTOR_UNIT
from taperwise.exposure.engine import lookup_table
from taperwise.knowledge.factors import FactorSet

# Tier bounds are compared on a daily amount rounded to this many places, so that 59.99999999 from
# floating-point division lands in the same tier as the 60 a pharmacist would write.
TIER_DECIMALS = 6

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
                    "f_dose_above": None if factor.dose_above is None else float(factor.dose_above),
                    "f_dose_up_to": None if factor.dose_up_to is None else float(factor.dose_up_to),
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
    f = lookup_table(t, factor_rows(fs))
    amount = (t[daily_amount] * f.f_multiplier).round(TIER_DECIMALS)
    condition = [
        t.p_ingredient == f.f_ingredient,
        t.p_route_key == f.f_route,
        t.amount_unit == f.f_amount_unit,
        f.f_dose_above.isnull() | (amount > f.f_dose_above),
        f.f_dose_up_to.isnull() | (amount <= f.f_dose_up_to),
    ]
    return t.left_join(f, condition)
