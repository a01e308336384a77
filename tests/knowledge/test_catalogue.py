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
        release = f" {entry.wear_hours} HR" if entry.dose_form == "patch" else f" {entry.release.value}"
        route = {"buccal": " buccal", "sublingual": " sublingual", "nasal": " nasal"}
        route_word = route.get(entry.route.value, "")
        partners = "".join(
            f" / {name} {strength} MG"
            for name, strength in zip(entry.partners, entry.partner_strengths, strict=True)
        )
        text = f"{entry.ingredient} {entry.strength} {unit}{partners}{release}{route_word} {entry.dose_form}"
        product = parse_product(text)
        assert isinstance(product, Product), text
        assert product.route is entry.route, text
        assert (product.dose_form, product.release) == (entry.dose_form, entry.release), text
        assert catalogue_entries(product) != (), text


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


# Issue 10 item 3.2: brands that had rows but no strengths, each strength from its label or SmPC (the
# row's note and source) and, for US products, the CDC NDC/MME file 2018.
_ER, _IR, _ORAL = Release.EXTENDED, Release.IMMEDIATE, Route.ORAL
MARKETED = [
    ("morphine", _ORAL, _ER, "capsule", "US", "10 20 30 40 50 60 80 100 200"),  # Kadian
    ("oxycodone", _ORAL, _ER, "capsule", "US", "10 15 20 30 40"),  # Xtampza ER, as the HCl equivalent
    ("tramadol", _ORAL, _ER, "capsule", "US", "100 200 300"),  # ConZip
    ("tramadol", _ORAL, _ER, "capsule", "UK", "50 100 150 200"),  # Zamadol SR
    ("fentanyl", Route.ORAL_SPRAY, _IR, "spray", "US", "100 200 400 600 800 1200 1600"),  # Subsys
    ("fentanyl", Route.NASAL, _IR, "spray", "US", "100 300 400"),  # Lazanda
    ("oxycodone", _ORAL, _IR, "capsule", "US", "5"),
    ("methadone", _ORAL, _IR, "solution", "UK", "1 10 20"),  # mg/mL: the 10 and 20 are concentrates
    ("methadone", _ORAL, _IR, "dispersible tablet", "US", "40"),
    ("tapentadol", _ORAL, _ER, "tablet", "UK", "25 50 100 150 200 250"),  # Palexia SR
    ("tapentadol", _ORAL, _IR, "solution", "UK", "20"),  # Palexia 20 mg/ml oral solution
    ("buprenorphine", Route.BUCCAL, _IR, "film", "US", "75 150 300 450 600 750 900"),  # Belbuca
]


@pytest.mark.parametrize(
    ("ingredient", "route", "release", "form", "market", "strengths"),
    MARKETED,
    ids=[f"{m[0]}-{m[3]}-{m[1].value}-{m[2].value}-{m[4]}" for m in MARKETED],
)
def test_marketed_strengths_from_labels_and_the_cdc_ndc_file(
    ingredient: str, route: Route, release: Release, form: str, market: str, strengths: str
) -> None:
    assert available_strengths(ingredient, route, release, form, market=market) == _d(*strengths.split())


def test_methadone_dispersible_tablets_are_their_own_line_not_tablet_steps() -> None:
    # 40 mg dispersible tablets treat opioid use disorder: never a step of a methadone tablet taper.
    tablets = available_strengths("methadone", Route.ORAL, Release.IMMEDIATE, "tablet", market="US")
    assert tablets == _d("5", "10")
    dispersible = parse_product("Methadone Hydrochloride 40 MG Tablet for Oral Suspension")
    assert isinstance(dispersible, Product)
    assert [e.strength for e in catalogue_entries(dispersible, market="US")] == [Decimal(40)]


def test_buccal_and_sublingual_buprenorphine_films_are_distinct_catalogue_lines() -> None:
    sublingual = available_strengths(
        "buprenorphine", Route.SUBLINGUAL, Release.IMMEDIATE, "film", partners=("naloxone",)
    )
    assert sublingual == _d("2", "4", "8", "12")  # Suboxone
    assert available_strengths("buprenorphine", Route.SUBLINGUAL, Release.IMMEDIATE, "film") == ()
    assert (
        available_strengths("buprenorphine", Route.BUCCAL, Release.IMMEDIATE, "film", partners=("naloxone",))
        == ()
    )


def test_opium_tincture_row_says_its_strength_is_the_morphine_content() -> None:
    (tincture,) = [e for e in load_catalogue() if e.ingredient == "opium"]
    assert (tincture.strength, tincture.unit) == (Decimal(10), "mg/mL")
    assert "anhydrous morphine content" in tincture.note
    assert "100 mg/mL of powdered opium" in tincture.note


def test_every_strength_added_from_a_label_names_its_source_in_the_note() -> None:
    for entry in load_catalogue():
        if entry.source_id in ("us-labels", "uk-smpc", "cdc-ndc-2018-workbook"):
            assert entry.note, entry
