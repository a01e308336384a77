"""One MME: the engine (registry, app, hooks, trials) and the scalar path (taper plans) give the same
daily MME, exactly, for every product in the catalogue under every factor set."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from taperwise.exposure.dose import MME_ROUNDING, NoFactorError, daily_mme
from taperwise.knowledge.catalogue import CatalogueEntry, load_catalogue
from taperwise.knowledge.factors import load_factor_set
from tests.exposure.helpers import mme_rows, rx

FACTOR_SETS = ["cdc-2022", "cdc-2016", "uk-fpm", "uk-openprescribing"]


def product_text(entry: CatalogueEntry) -> str:
    partners = "".join(f" / {p} {s:f} {entry.unit.upper()}" for p, s in zip(entry.partners,
                       entry.partner_strengths, strict=True))  # fmt: skip
    release = "Extended Release" if entry.release.value == "ER" else ""
    return f"{entry.ingredient} {entry.strength:f} {entry.unit.upper()}{partners} {release} " + (
        f"{entry.route.value} {entry.dose_form}"
    )


def catalogue_records() -> list[dict[str, Any]]:
    records = []
    for n, entry in enumerate(load_catalogue()):
        for units in (1, 2, 3):
            records.append(rx(f"c{n}-{units}", product_text(entry), days=30, qty=30 * units))
    return records


@pytest.mark.parametrize("factor_set", FACTOR_SETS)
def test_engine_and_scalar_mme_are_equal_on_every_catalogue_product(factor_set: str) -> None:
    load_factor_set(factor_set)
    counted = 0
    for row in mme_rows(catalogue_records(), factor_set):
        if row["status"] != "ok":
            continue
        amount = Decimal(str(row["strength"])) * Decimal(str(row["units_per_day"]))
        unit = row["strength_unit"]  # a liquid's mg/mL × mL a day is mg a day; a patch's mcg/hr stays
        unit = unit if unit == "mcg/hr" else unit.split("/")[0]
        scalar = daily_mme(row["ingredient"], row["route"], amount, unit, factor_set)
        assert scalar.daily_mme == row["daily_mme"], (row["drug"], row["units_per_day"])
        counted += 1
    assert counted > 0


def test_the_scalar_path_reports_what_the_engine_reports_as_missing() -> None:
    rows = mme_rows([rx("m", "Methadone Hydrochloride 10 MG Oral Tablet", days=30, qty=90)], "uk-fpm")
    assert rows[0]["status"] == "insufficient_data"
    with pytest.raises(NoFactorError):
        daily_mme("methadone", "oral", Decimal(30), "mg", "uk-fpm")


def test_the_one_rounding_rule_is_half_away_from_zero() -> None:
    """SQL ROUND on DECIMAL (DuckDB, Spark) rounds a tie away from zero; so does the scalar path (Python's
    default, half to even, would give 0.0002 here)."""
    assert MME_ROUNDING == ROUND_HALF_UP
    assert daily_mme("morphine", "oral", Decimal("0.00025"), "mg").daily_mme == Decimal("0.0003")
    assert daily_mme("morphine", "oral", Decimal("0.00035"), "mg").daily_mme == Decimal("0.0004")
