"""Conversion-factor sets: sources, the published CDC values, tiers, and the uk-fpm set."""

from __future__ import annotations

from decimal import Decimal

import pytest

from taperwise.knowledge.factors import available_factor_sets, load_factor_set, load_sources

# clinical-rules §1, CDC 2022 guideline column (agents absent from it take the CDC NDC/MME file factor).
CDC_2022 = {
    "codeine": "0.15",
    "hydrocodone": "1",
    "hydromorphone": "5",
    "methadone": "4.7",
    "morphine": "1",
    "oxycodone": "1.5",
    "oxymorphone": "3",
    "tapentadol": "0.4",
    "tramadol": "0.2",
    "dihydrocodeine": "0.25",
    "levorphanol": "11",
    "meperidine": "0.1",
    "opium": "1",
    "pentazocine": "0.37",
    "butorphanol": "7",
}


@pytest.mark.parametrize("set_id", available_factor_sets())
def test_every_factor_row_has_a_known_source(set_id: str) -> None:
    factor_set = load_factor_set(set_id)
    assert all(factor.source_id in load_sources() for factor in factor_set.factors)


@pytest.mark.parametrize(("ingredient", "value"), CDC_2022.items())
def test_cdc_2022_factor_equals_clinical_rules(ingredient: str, value: str) -> None:
    factor = load_factor_set("cdc-2022").lookup(ingredient, "oral", Decimal(10))
    assert factor is not None
    assert factor.factor == Decimal(value)


@pytest.mark.parametrize(
    ("route", "value"),
    [("transdermal", "2.4"), ("buccal", "0.13"), ("film", "0.18"), ("oral_spray", "0.18"), ("nasal", "0.16")],
)
def test_cdc_2022_fentanyl_factors_by_route(route: str, value: str) -> None:
    factor = load_factor_set("cdc-2022").lookup("fentanyl", route, Decimal(25))
    assert factor is not None
    assert factor.factor == Decimal(value)


def test_buprenorphine_has_no_cdc_factor() -> None:
    assert load_factor_set("cdc-2022").candidates("buprenorphine", "transdermal") == ()


@pytest.mark.parametrize(
    ("daily", "value"),
    [
        ("5", "4"),
        ("20", "4"),
        ("20.5", "8"),
        ("40", "8"),
        ("40.1", "10"),
        ("60", "10"),
        ("61", "12"),
        ("500", "12"),
    ],
)
def test_cdc_2016_methadone_tiers_are_half_open(daily: str, value: str) -> None:
    factor = load_factor_set("cdc-2016").lookup("methadone", "oral", Decimal(daily))
    assert factor is not None
    assert factor.factor == Decimal(value)


def test_cdc_2016_hydromorphone_is_4() -> None:
    factor = load_factor_set("cdc-2016").lookup("hydromorphone", "oral", Decimal(8))
    assert factor is not None
    assert factor.factor == Decimal(4)


def test_uk_fpm_holds_only_values_read_from_the_fpm_page() -> None:
    factor_set = load_factor_set("uk-fpm")
    assert {factor.source_id for factor in factor_set.factors} == {"fpm-opioids-aware"}
    codeine = factor_set.lookup("codeine", "oral", Decimal(240))
    assert codeine is not None
    assert codeine.factor == Decimal("0.1")
    # Not legible in the stored copy of the page: reported missing, never typed from memory.
    assert factor_set.lookup("tramadol", "oral", Decimal(100)) is None


def test_fpm_source_records_url_and_access_date() -> None:
    source = load_sources()["fpm-opioids-aware"]
    assert source.url.startswith("https://")
    assert "fpm.ac.uk" in source.url
    assert source.accessed == "2026-11-23"
