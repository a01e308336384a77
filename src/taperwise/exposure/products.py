"""Resolve product text to product attributes once per distinct text, as an engine table.

Parsing is Python (regular expressions over names), but a national export has millions of rows and only
thousands of distinct product texts: we parse each distinct text once and join the result back, so the
per-row work stays inside the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from taperwise.exposure.engine import lookup_table
from taperwise.knowledge.codes import CodeTable
from taperwise.knowledge.factors import FactorSet
from taperwise.knowledge.model import ParseFailure, Product
from taperwise.knowledge.parser import parse_product

PRODUCT_SCHEMA = pa.schema(
    [
        ("drug", pa.string()),
        ("p_ndc", pa.string()),
        ("p_rxcui", pa.string()),
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
        ("p_factor_route", pa.string()),
        ("p_route_key", pa.string()),
    ]
)


ProductKey = tuple[str | None, str, str]  # drug text, ndc, rxcui ("" when absent)


def _identify(key: ProductKey, codes: CodeTable | None) -> Product | ParseFailure:
    """What the product is: the text, checked against a verified code when a code table is loaded.

    A code is trusted only from a loaded table (never from memory); when code and text disagree on
    ingredient or strength the row is reported as a conflict, never silently resolved.
    """
    text, ndc, rxcui = key
    parsed = parse_product(text) if text else ParseFailure("", "drug is empty")
    if codes is None:
        return parsed
    for system, code in (("ndc", ndc), ("rxnorm", rxcui)):
        from_code = codes.lookup(system, code) if code else None
        if from_code is None:
            continue
        if isinstance(parsed, ParseFailure):
            return replace(
                from_code, notes=(*from_code.notes, f"product from {system} {code}: text not readable")
            )
        conflict = CodeTable.conflict(from_code, parsed)
        if conflict is not None:
            return ParseFailure(text or "", f"conflict between {system} {code} and the text: {conflict}")
        return parsed
    return parsed


def product_rows(keys: Iterable[ProductKey], fs: FactorSet, codes: CodeTable | None = None) -> pa.Table:
    """One row per distinct (text, ndc, rxcui): what the product is, or why it could not be read."""
    rows: list[dict[str, object]] = []
    for key in sorted(set(keys), key=lambda k: (k[0] or "", k[1], k[2])):
        text, ndc, rxcui = key
        identity = {"drug": text, "p_ndc": ndc, "p_rxcui": rxcui}
        parsed = _identify(key, codes)
        if isinstance(parsed, ParseFailure):
            rows.append({**identity, "p_recognized": False, "p_reason": parsed.reason})
            continue
        main = parsed.opioid or (parsed.ingredients[0] if parsed.ingredients else None)
        rows.append(
            {
                **identity,
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
                # Factors are looked up by the factor route (a film's own, whatever its route).
                "p_factor_route": parsed.factor_route,
                "p_route_key": fs.route_key(main.ingredient, parsed.factor_route) if main else None,
            }
        )
    return pa.Table.from_pylist(rows, schema=PRODUCT_SCHEMA)


def resolve_products(
    prescriptions: ir.Table,
    fs: FactorSet,
    codes: CodeTable | None = None,
    derive: Callable[[ir.Table], ir.Table] | None = None,
    products: ir.Table | None = None,
) -> ir.Table:
    """The prescriptions with product attribute columns (``p_*``) joined on text (and codes when loaded).

    `derive` adds columns computed from the product alone (named ``p_*``): they are computed once per
    distinct product, on the small product table, and joined with the rest. A row whose product did not
    join (an empty ``drug``) has them null. `products`: the product table (`product_rows` of the
    prescriptions' distinct keys) when the caller already has it, as a table the expression reads by name
    (`taperwise.exposure.compiled`); by default it is read from the prescriptions here.
    """
    keyed = prescriptions.mutate(
        _ndc=prescriptions.ndc.coalesce("") if codes is not None else ibis.literal(""),
        _rxcui=prescriptions.rxcui.coalesce("") if codes is not None else ibis.literal(""),
    )
    if products is None:
        distinct = keyed.select("drug", "_ndc", "_rxcui").distinct().to_pyarrow().to_pylist()
        keys = [(row["drug"], row["_ndc"], row["_rxcui"]) for row in distinct]
        products = lookup_table(prescriptions, product_rows(keys, fs, codes))
    if derive is not None:
        products = derive(products)
    joined = keyed.left_join(
        products,
        [keyed.drug == products.drug, keyed._ndc == products.p_ndc, keyed._rxcui == products.p_rxcui],
    )
    return joined.drop("drug_right", "_ndc", "_rxcui", "p_ndc", "p_rxcui")
