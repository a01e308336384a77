"""Conversion-factor sets: sources, the published CDC values, tiers, and the UK OME sets."""

from __future__ import annotations

from decimal import Decimal

import pytest

from taperwise.errors import KnowledgeError
from taperwise.knowledge.factors import (
    _buprenorphine_routes,
    available_factor_sets,
    load_factor_set,
    load_sources,
)

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


# OpenPrescribing's OME table (bennettoxford/openprescribing at 5839302a,
# openprescribing/measures/tables/opioid_ing_form_ome.csv), the rows whose ingredient and route taperwise
# knows, transcribed: (ingredient, route) -> (OME per mg, the reference the row names). Transdermal rows are
# per mg delivered a day. Pethidine is taperwise's meperidine; oromucosal fentanyl (lozenges) is "buccal".
OPENPRESCRIBING_OME = {
    ("codeine", "oral"): ("0.1", "BNF"),
    ("codeine", "rectal"): ("0.1", "BNF"),
    ("codeine", "injection"): ("0.1", "GP Notebook"),
    ("dihydrocodeine", "oral"): ("0.1", "BNF"),
    ("dihydrocodeine", "injection"): ("0.1", "BNF"),
    ("diamorphine", "oral"): ("1", "GP Notebook"),
    ("diamorphine", "rectal"): ("1", "GP Notebook"),
    ("diamorphine", "injection"): ("3.3", "BNF"),
    ("fentanyl", "transdermal"): ("100", "BNF"),
    ("fentanyl", "buccal"): ("130", "CMS"),
    ("fentanyl", "nasal"): ("160", "CMS"),
    ("fentanyl", "injection"): ("150", "Gloucestershire"),
    ("alfentanil", "nasal"): ("30", "Scottish Palliative Care"),
    ("alfentanil", "injection"): ("30", "Scottish Palliative Care"),
    ("hydromorphone", "oral"): ("5", "BNF"),
    ("hydromorphone", "injection"): ("12.5", "Reddy"),
    ("meperidine", "oral"): ("0.1", "ABHB"),
    ("meperidine", "injection"): ("0.24", "ABHB"),
    ("methadone", "oral"): ("3", "CMS"),
    ("methadone", "injection"): ("3", "CMS"),
    ("morphine", "oral"): ("1", "BNF"),
    ("morphine", "rectal"): ("1", "BNF"),
    ("morphine", "injection"): ("2", "BNF"),
    ("oxycodone", "oral"): ("1.5", "BNF"),
    ("oxycodone", "rectal"): ("1.5", "BNF"),
    ("oxycodone", "injection"): ("3", "BNF"),
    ("pentazocine", "oral"): ("0.37", "CMS"),
    ("pentazocine", "rectal"): ("0.37", "CMS"),
    ("pentazocine", "injection"): ("0.37", "CMS"),
    ("propoxyphene", "oral"): ("0.1", "GP Notebook"),  # dextropropoxyphene
    ("tapentadol", "oral"): ("0.4", "OA"),
    ("tramadol", "oral"): ("0.1", "BNF"),
    ("tramadol", "injection"): ("0.2", "SmPC"),
    ("buprenorphine", "transdermal"): ("100", "OA"),
}
# Per factor unit: how many of the table's units (mg, or mg delivered a day) one unit is.
TABLE_UNITS_PER_FACTOR_UNIT = {"mg": Decimal(1), "mcg": Decimal("0.001"), "mcg/hr": Decimal("0.024")}
# The ingredients of the FPM table (oral, and the two patches); methadone has no factor there.
FPM_TABLE = {
    ("codeine", "oral"), ("dihydrocodeine", "oral"), ("hydromorphone", "oral"), ("morphine", "oral"),
    ("oxycodone", "oral"), ("tapentadol", "oral"), ("tramadol", "oral"), ("fentanyl", "transdermal"),
    ("buprenorphine", "transdermal"),
}  # fmt: skip


@pytest.mark.parametrize("set_id", ["uk-fpm", "uk-openprescribing"])
def test_every_uk_row_gives_the_value_its_source_row_gives(set_id: str) -> None:
    """Each row, converted to the table's unit, equals the OpenPrescribing row it cites, and its note names
    that row's reference; transdermal: 2.4 per mcg/hr worn = 100 per mg delivered (24 h / 1000)."""
    for factor in load_factor_set(set_id).factors:
        value, reference = OPENPRESCRIBING_OME[(factor.ingredient, factor.route)]
        assert factor.factor == Decimal(value) * TABLE_UNITS_PER_FACTOR_UNIT[factor.unit], factor
        assert (factor.dose_above, factor.dose_up_to) == (None, None)
        if factor.source_id == "openprescribing-ome":
            assert f"ref {reference}" in factor.note, factor


def test_uk_fpm_holds_only_values_read_from_the_fpm_page_or_the_openprescribing_table() -> None:
    factor_set = load_factor_set("uk-fpm")
    assert {(f.ingredient, f.route) for f in factor_set.factors} == FPM_TABLE
    by_source = {(f.ingredient, f.source_id) for f in factor_set.factors}
    # Codeine was read from the FPM page itself; the rest of the stored copy was cut off, so the others are
    # the values OpenPrescribing's table gives, each row naming its BNF or Opioids Aware reference.
    assert ("codeine", "fpm-opioids-aware") in by_source
    assert {source for _, source in by_source} == {"fpm-opioids-aware", "openprescribing-ome"}
    # Methadone: the FPM gives no factor (specialist advice), so none is entered, and none is guessed.
    assert factor_set.candidates("methadone", "oral") == ()
    assert factor_set.lookup("methadone", "oral", Decimal(30)) is None
    # What the FPM table does not give is missing, even where OpenPrescribing has a row.
    assert factor_set.lookup("morphine", "rectal", Decimal(10)) is None
    assert factor_set.lookup("diamorphine", "oral", Decimal(10)) is None


def test_only_the_uk_sets_count_buprenorphine_and_only_its_patches() -> None:
    for set_id in available_factor_sets():
        factor_set = load_factor_set(set_id)
        expected = ("transdermal",) if set_id.startswith("uk-") else ()
        assert factor_set.buprenorphine_routes == expected, set_id
        for route in ("sublingual", "buccal", "film", "oral"):
            assert not factor_set.counts_buprenorphine(route)
            assert factor_set.candidates("buprenorphine", route) == ()


@pytest.mark.parametrize("routes", ["sublingual", "transdermal;buccal", "film"])
def test_a_set_may_never_count_sublingual_buccal_or_film_buprenorphine(routes: str) -> None:
    with pytest.raises(KnowledgeError, match="never counted"):
        _buprenorphine_routes("test", routes, [])


def test_counted_buprenorphine_needs_its_factor_row_and_a_row_needs_the_route_counted() -> None:
    patch = load_factor_set("uk-fpm").candidates("buprenorphine", "transdermal")
    with pytest.raises(KnowledgeError, match="has no factor row"):
        _buprenorphine_routes("test", "transdermal", [])
    with pytest.raises(KnowledgeError, match="does not count buprenorphine there"):
        _buprenorphine_routes("test", "", list(patch))
    assert _buprenorphine_routes("test", "transdermal", list(patch)) == ("transdermal",)


def test_uk_set_versions_and_openprescribing_sources_are_recorded() -> None:
    assert load_factor_set("uk-fpm").version == "2020.1"
    assert load_factor_set("uk-openprescribing").version == "2024.1"
    assert {load_factor_set(s).dose_term for s in ("uk-fpm", "uk-openprescribing")} == {"OME"}
    for source_id in ("openprescribing-ome", "openprescribing-high-dose"):
        source = load_sources()[source_id]
        assert source.url.startswith("https://github.com/bennettoxford/openprescribing/blob/5839302a")
        assert source.accessed == "2026-12-02"


def test_fpm_source_records_url_and_access_date() -> None:
    source = load_sources()["fpm-opioids-aware"]
    assert source.url.startswith("https://")
    assert "fpm.ac.uk" in source.url
    assert source.accessed == "2026-11-23"
