"""Resolve product text to product attributes once per distinct text, as an engine table.

Parsing is Python (regular expressions over names), but a national export has millions of rows and only
thousands of distinct product texts: we parse each distinct text once and join the result back, so the
per-row work stays inside the engine.
"""

from __future__ import annotations

from collections.abc import Iterable

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from taperwise.knowledge.factors import FactorSet
from taperwise.knowledge.model import ParseFailure
from taperwise.knowledge.parser import parse_product

PRODUCT_SCHEMA = pa.schema(
    [
        ("drug", pa.string()),
        ("p_recognized", pa.bool_()),
        ("p_reason", pa.string()),
        ("p_ingredient", pa.string()),
        ("p_strength", pa.float64()),
        ("p_strength_unit", pa.string()),
        ("p_class", pa.string()),
        ("p_route", pa.string()),
        ("p_release", pa.string()),
        ("p_dose_form", pa.string()),
        ("p_wear_days", pa.float64()),
        ("p_cough_cold", pa.bool_()),
        ("p_notes", pa.string()),
        ("p_route_key", pa.string()),
    ]
)


def product_rows(texts: Iterable[str | None], fs: FactorSet) -> pa.Table:
    """One row per distinct text: what the product is, or why it could not be read."""
    rows: list[dict[str, object]] = []
    for text in sorted({t for t in texts if t is not None}):
        parsed = parse_product(text)
        if isinstance(parsed, ParseFailure):
            rows.append({"drug": text, "p_recognized": False, "p_reason": parsed.reason})
            continue
        main = parsed.opioid or (parsed.ingredients[0] if parsed.ingredients else None)
        rows.append(
            {
                "drug": text,
                "p_recognized": True,
                "p_ingredient": main.ingredient if main else None,
                "p_strength": float(main.strength) if main else None,
                "p_strength_unit": main.unit if main else None,
                "p_class": parsed.drug_class.value,
                "p_route": parsed.route.value,
                "p_release": parsed.release.value,
                "p_dose_form": parsed.dose_form,
                "p_wear_days": parsed.wear_hours / 24 if parsed.wear_hours else None,
                "p_cough_cold": parsed.cough_cold,
                # Assumptions the parser made (e.g. "route not stated: oral assumed"): shown, not hidden.
                "p_notes": "; ".join(parsed.notes) or None,
                "p_route_key": fs.route_key(main.ingredient, parsed.route.value) if main else None,
            }
        )
    return pa.Table.from_pylist(rows, schema=PRODUCT_SCHEMA)


def resolve_products(prescriptions: ir.Table, fs: FactorSet) -> ir.Table:
    """The prescriptions with product attribute columns (``p_*``) joined on the drug text."""
    texts = prescriptions.select("drug").distinct().to_pyarrow().column("drug").to_pylist()
    products = ibis.memtable(product_rows(texts, fs))
    joined = prescriptions.left_join(products, prescriptions.drug == products.drug)
    return joined.drop("drug_right")
