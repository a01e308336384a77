"""The curated product catalogue: marketed strengths, wear times, and matching parsed products."""

from __future__ import annotations

from decimal import Decimal

import pytest

from taperwise.knowledge.catalogue import (
    available_strengths,
    catalogue_entries,
    load_catalogue,
    patch_wear_hours,
)
from taperwise.knowledge.factors import load_sources
from taperwise.knowledge.model import Product, Release, Route
from taperwise.knowledge.parser import parse_product


def _d(*values: str) -> tuple[Decimal, ...]:
    return tuple(Decimal(value) for value in values)


def test_morphine_er_tablet_strengths_in_the_us() -> None:
    found = available_strengths("morphine", Route.ORAL, Release.EXTENDED, "tablet", market="US")
    assert found == _d("15", "30", "60", "100", "200")


def test_without_a_market_the_strengths_of_both_markets_are_offered() -> None:
    found = available_strengths("morphine", Route.ORAL, Release.EXTENDED, "tablet")
    assert found == _d("5", "10", "15", "30", "60", "100", "200")


def test_oxycodone_ir_tablet_strengths() -> None:
    found = available_strengths("oxycodone", Route.ORAL, Release.IMMEDIATE, "tablet")
    assert found == _d("5", "10", "15", "20", "30")


def test_fentanyl_patch_strengths_are_those_of_clinical_rules() -> None:
    found = available_strengths("fentanyl", Route.TRANSDERMAL, Release.EXTENDED, "patch")
    assert found == _d("12", "25", "37.5", "50", "62.5", "75", "87.5", "100")


def test_combination_strengths_are_kept_apart_from_single_ingredient_ones() -> None:
    single = available_strengths("codeine", Route.ORAL, Release.IMMEDIATE, "tablet", market="UK")
    combined = available_strengths(
        "codeine", Route.ORAL, Release.IMMEDIATE, "tablet", market="UK", partners=("acetaminophen",)
    )
    assert single == _d("15", "30", "60")
    assert combined == _d("8", "15", "30")


def test_unknown_product_has_no_strengths() -> None:
    assert available_strengths("morphine", Route.NASAL, Release.IMMEDIATE, "spray") == ()


@pytest.mark.parametrize(
    ("ingredient", "hours"),
    [("fentanyl", 72), ("buprenorphine", 168), ("morphine", None), ("zorbitol", None)],
)
def test_patch_wear_hours(ingredient: str, hours: int | None) -> None:
    assert patch_wear_hours(ingredient) == hours


def test_every_catalogue_row_has_a_known_source_and_no_code_typed_from_memory() -> None:
    sources = load_sources()
    for entry in load_catalogue():
        assert entry.source_id in sources
        assert entry.rxcui is None
        assert entry.ndc is None
        assert entry.dmd is None


def test_every_patch_row_has_a_wear_time() -> None:
    assert all(entry.wear_hours for entry in load_catalogue() if entry.dose_form == "patch")


def test_every_catalogue_row_reads_back_through_the_parser() -> None:
    # The catalogue and the parser must speak the same vocabulary, or a taper step names a product the
    # exposure engine cannot read.
    for entry in load_catalogue():
        unit = entry.unit.replace("mL", "ML")
        release = "" if entry.dose_form == "patch" else f" {entry.release.value}"
        route = {"buccal": " buccal", "sublingual": " sublingual", "film": ""}.get(entry.route.value, "")
        partners = "".join(
            f" / {name} {strength} MG"
            for name, strength in zip(entry.partners, entry.partner_strengths, strict=True)
        )
        text = f"{entry.ingredient} {entry.strength} {unit}{partners}{release}{route} {entry.dose_form}"
        product = parse_product(text)
        assert isinstance(product, Product), text
        assert product.route is entry.route, text


def test_catalogue_entries_finds_a_parsed_product() -> None:
    product = parse_product("Co-codamol 30mg/500mg tablets")
    assert isinstance(product, Product)
    entries = catalogue_entries(product)
    assert [(e.ingredient, e.strength, e.partners, e.markets) for e in entries] == [
        ("codeine", Decimal(30), ("acetaminophen",), ("UK",))
    ]


def test_catalogue_entries_for_a_patch_checks_the_wear_time() -> None:
    weekly = parse_product("Buprenorphine 10micrograms/hour seven day transdermal patches")
    assert isinstance(weekly, Product)
    assert len(catalogue_entries(weekly)) == 1


def test_catalogue_entries_is_empty_for_an_unlisted_strength_or_market() -> None:
    odd = parse_product("OXYCODONE HCL 7 MG TAB")
    uk_only = parse_product("MST Continus 5mg tablets")
    assert isinstance(odd, Product)
    assert isinstance(uk_only, Product)
    assert catalogue_entries(odd) == ()
    assert catalogue_entries(uk_only, market="US") == ()
    assert len(catalogue_entries(uk_only, market="UK")) == 1
