"""parse_product against a checked table of product strings in three writing styles, failure reasons,
and properties on arbitrary text."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taperwise.knowledge.model import DrugClass, ParseFailure, Product, Release, Route
from taperwise.knowledge.parser import parse_product

_TABLE = Path(__file__).with_name("product_strings.csv")


def _rows() -> list[dict[str, str]]:
    with _TABLE.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


ROWS = _rows()


def _parsed(text: str) -> Product:
    result = parse_product(text)
    assert isinstance(result, Product), (
        f"{text!r}: {result.reason if isinstance(result, ParseFailure) else ''}"
    )
    return result


def test_table_has_at_least_200_strings_in_each_style() -> None:
    styles = [row["style"] for row in ROWS]
    assert len(ROWS) >= 200
    assert all(styles.count(style) >= 50 for style in ("rxnorm", "claim", "dmd"))
    assert len({row["text"] for row in ROWS}) == len(ROWS)


@pytest.mark.parametrize("row", ROWS, ids=[row["text"] for row in ROWS])
def test_product_string_reads_as_expected(row: dict[str, str]) -> None:
    product = _parsed(row["text"])
    expected = []
    for part in row["ingredients"].split(";"):
        name, strength, unit = part.split()
        expected.append((name, Decimal(strength), unit))
    assert [(i.ingredient, i.strength, i.unit) for i in product.ingredients] == expected
    assert product.dose_form == row["dose_form"]
    assert product.route is Route(row["route"])
    assert product.release is Release(row["release"])
    assert product.wear_hours == (int(row["wear_hours"]) if row["wear_hours"] else None)
    assert product.style == row["style"]
    assert product.brand == (row["brand"] or None)
    assert product.cough_cold is (row["cough_cold"] == "yes")


def test_fentanyl_patch_in_mg_per_hour_is_micrograms_per_hour() -> None:
    product = _parsed("72 HR Fentanyl 0.025 MG/HR Transdermal System")
    assert product.opioid is not None
    assert (product.opioid.strength, product.opioid.unit) == (Decimal(25), "mcg/hr")


def test_per_5_ml_liquid_is_normalised_per_ml() -> None:
    for text in ("Morphine sulfate 10mg/5ml oral solution", "MORPHINE SULF 10 MG/5 ML SOLN"):
        product = _parsed(text)
        assert product.opioid is not None
        assert (product.opioid.strength, product.opioid.unit) == (Decimal(2), "mg/mL")


def test_combination_strengths_follow_ingredient_order() -> None:
    claim = _parsed("HYDROCODONE-ACETAMINOPHEN 10-325 MG TAB")
    reversed_claim = _parsed("APAP/CODEINE 300-30MG TAB")
    assert claim.opioid is not None
    assert reversed_claim.opioid is not None
    assert (claim.opioid.ingredient, claim.opioid.strength) == ("hydrocodone", Decimal(10))
    assert (reversed_claim.opioid.ingredient, reversed_claim.opioid.strength) == ("codeine", Decimal(30))


def test_paracetamol_and_apap_are_acetaminophen() -> None:
    for text in ("Co-codamol 30mg/500mg tablets", "APAP/CODEINE 300-30MG TAB"):
        names = {item.ingredient for item in _parsed(text).ingredients}
        assert "acetaminophen" in names


def test_buprenorphine_is_its_own_class_and_naloxone_is_other() -> None:
    product = _parsed("Buprenorphine 8 MG / Naloxone 2 MG Sublingual Tablet")
    assert product.drug_class is DrugClass.BUPRENORPHINE
    assert [item.drug_class for item in product.ingredients] == [DrugClass.BUPRENORPHINE, DrugClass.OTHER]


def test_benzodiazepine_product_has_benzodiazepine_class() -> None:
    assert _parsed("ALPRAZOLAM 0.5 MG TAB").drug_class is DrugClass.BENZODIAZEPINE


def test_brand_only_claim_takes_ingredient_and_release_from_brand() -> None:
    product = _parsed("OXYCONTIN 20 MG TABLET")
    assert product.opioid is not None
    assert (product.opioid.ingredient, product.release, product.brand) == (
        "oxycodone",
        Release.EXTENDED,
        "OxyContin",
    )


def test_assumptions_are_recorded_as_notes() -> None:
    product = _parsed("OXYCODONE-ACETAMINOPHEN 5-325")
    assert any("mg assumed" in note for note in product.notes)
    assert any("dose form not stated" in note for note in product.notes)


def test_stated_wear_time_overrides_the_ingredient_default() -> None:
    assert _parsed("Buprenorphine 52.5micrograms/hour four day transdermal patches").wear_hours == 96


def test_fentanyl_is_never_cough_cold_and_codeine_linctus_is() -> None:
    assert not _parsed("FENTANYL 25 MCG/HR PATCH").cough_cold
    assert _parsed("Codeine 15mg/5ml linctus").cough_cold


FAILURES = [
    ("OXYCODONE TAB", "no strength found in 'OXYCODONE TAB'"),
    ("Zorbitol 5 MG Oral Tablet", "unknown ingredient 'zorbitol'"),
    (
        "Oxycodone 5 MG / Acetaminophen 325 MG / Aspirin Oral Tablet",
        "strength count (2) does not match ingredient count (3)",
    ),
    ("HYDROCODONE-ACETAMINOPHEN 10 MG TAB", "strength count (1) does not match ingredient count (2)"),
    ("Oxycodone 5 MG Oral Tablet blah", "unknown word 'blah'"),
    ("OXYCODONE HCL 5 TAB", "strength '5' has no unit"),
    ("Morphine Sulfate 20 MG Oral Solution", "does not say per how many mL"),
    ("FENTANYL 25 MCG PATCH", "is not a rate (mcg/hr)"),
    ("Oxycodone 5 MG/5ML Oral Tablet", "is per mL but the product is a tablet"),
    ("Morphine 10 MG/HR Oral Tablet", "is a rate per hour but the product is a tablet"),
    ("Oxycodone 5 MG Oral Tablet Capsule", "conflicting dose forms"),
    ("OXYCODONE ER IR 10 MG TAB", "conflicting release"),
    ("OxyContin Morphine 20 MG Tablet", "brand 'OxyContin' is oxycodone but the text names morphine"),
    ("Transtec 35 MCG/HR 7 DAY Patch", "wear time 168 h in the text but Transtec is worn 96 h"),
    ("TYLENOL-CODEINE #3", "unexpected character '#'"),
    ("Morphine 2% gel", "is not a strength"),
    ("Oxycodone 0 MG Oral Tablet", "must be positive"),
    ("", "empty product text"),
    ("   \t\n", "empty product text"),
    ("Oxycodone 5 MG MG", "unit 'mg' has no number before it"),
    ("OXYCODONE 5 MG OXYCODONE 5 MG TAB", "named more than once"),
    ("OXYCONTIN ROXICODONE 5 MG TAB", "two brands named"),
    ("Morphine 99999999999 MG", "not a plausible strength"),
    ("Oxycodone 5 MG Oral Tablet " + "x" * 600, "the limit is 500"),
    ("Mörphine 10 MG Tablet", "unexpected character"),
    ("500 ML", "is not a strength"),
    ("BUPRENORPHINE-NALOXONE 8-2 MG FILM", "film: the text does not say buccal or sublingual"),
    ("Belbuca 150mcg sublingual film", "conflicting routes for a film: buccal and sublingual"),
]


@pytest.mark.parametrize(("text", "reason"), FAILURES, ids=[reason for _, reason in FAILURES])
def test_unreadable_text_fails_with_an_actionable_reason(text: str, reason: str) -> None:
    result = parse_product(text)
    assert isinstance(result, ParseFailure)
    assert reason in result.reason
    assert result.text == text


def test_buccal_film_is_buccal_and_sublingual_film_or_tablet_is_sublingual() -> None:
    # Issue 10 item 3.1: the route is what tells buprenorphine for pain (Belbuca, buccal) from
    # treatment of opioid use disorder (Suboxone, Subutex, generic sublingual tablets and films).
    for text in ("Belbuca 150mcg buccal film", "BELBUCA 150 MCG BUCCAL FILM",
                 "Buprenorphine 0.075 MG Buccal Film [Belbuca]"):  # fmt: skip
        product = _parsed(text)
        assert (product.dose_form, product.route, product.factor_route) == ("film", Route.BUCCAL, "film")
    for text in ("Suboxone 8mg/2mg sublingual film", "buprenorphine/naloxone 8mg/2mg sublingual film",
                 "SUBOXONE 8-2 MG FILM", "Subutex 8mg tablets", "buprenorphine 8 mg sublingual tablets",
                 "Buprenorphine 8 MG / Naloxone 2 MG Sublingual Tablet"):  # fmt: skip
        assert _parsed(text).route is Route.SUBLINGUAL, text
    assert _parsed("Fentanyl 200 MCG Buccal Film").factor_route == "film"  # the CDC film factor, 0.18


def test_what_the_text_says_about_release_outranks_the_brands_default_with_a_note() -> None:
    zamadol_sr = _parsed("Zamadol SR 100mg capsules")
    assert (zamadol_sr.brand, zamadol_sr.release, zamadol_sr.notes) == ("Zamadol SR", Release.EXTENDED, ())
    line_extension = _parsed("Zamadol 24hr 150mg tablets")
    assert line_extension.release is Release.EXTENDED
    assert "text says ER; brand Zamadol is usually IR" in line_extension.notes
    assert _parsed("Zamadol 50mg capsules").release is Release.IMMEDIATE


def test_a_tablet_for_oral_suspension_is_a_dispersible_tablet() -> None:
    for text in ("Methadone Hydrochloride 40 MG Tablet for Oral Suspension",
                 "METHADONE HCL 40 MG DISPERSIBLE TAB", "Methadone 40mg dispersible tablets"):  # fmt: skip
        product = _parsed(text)
        assert product.opioid is not None
        assert (product.opioid.strength, product.dose_form, product.route) == (
            Decimal(40), "dispersible tablet", Route.ORAL,
        ), text  # fmt: skip


def test_xtampza_base_strengths_are_counted_as_their_hydrochloride_equivalent() -> None:
    # Xtampza ER is labelled as oxycodone base: 9 mg is 10 mg oxycodone hydrochloride, the salt the
    # factor 1.5 and every other oxycodone product are per (strength_equivalents.csv, FDA label).
    for text, counted in (("Xtampza ER 9 mg capsules", 10), ("XTAMPZA ER 13.5 MG CAP", 15),
                          ("12 HR oxycodone 36 MG Extended Release Oral Capsule [Xtampza]", 40)):  # fmt: skip
        product = _parsed(text)
        assert product.opioid is not None
        assert product.opioid.strength == Decimal(counted), text
        assert any("labelled as the base" in note and "hydrochloride" in note for note in product.notes)
    # A strength already written as the hydrochloride (the CDC NDC/MME file 2018 does so) is kept.
    assert _parsed("Oxycodone 10 MG Extended Release Oral Capsule").opioid == _parsed("Xtampza ER 9mg").opioid
    assert _parsed("OXYCODONE HCL 9 MG TAB").opioid.strength == Decimal(9)  # type: ignore[union-attr]


def test_a_near_miss_of_an_opioid_name_stays_unrecognised_and_names_the_opioid() -> None:
    misses = [("Oxycodon 10 mg tablet", "oxycodone"), ("Morfine 10mg", "morphine"),
              ("Tramdol 50mg capsules", "tramadol"), ("OXYCONTN 20 MG TAB", "OxyContin")]  # fmt: skip
    for text, meant in misses:
        result = parse_product(text)
        assert isinstance(result, ParseFailure), text
        assert result.reason.startswith("unknown ingredient")
        assert result.reason.endswith(f"did you mean {meant}?"), result.reason
    zorbitol = parse_product("Zorbitol 5 MG Oral Tablet")  # near nothing known: no suggestion
    assert isinstance(zorbitol, ParseFailure)
    assert "did you mean" not in zorbitol.reason


def test_a_recognised_non_opioid_ingredient_reads_as_other() -> None:
    for text, name in (("Fenfluramine 2.2 MG/ML Oral Solution", "fenfluramine"),
                       ("Paracetamol 500mg tablets", "acetaminophen"),
                       ("Gabapentin 300 MG Oral Capsule", "gabapentin"),
                       ("Lisdexamfetamine Dimesylate 30 MG Oral Capsule", "lisdexamfetamine")):  # fmt: skip
        product = _parsed(text)
        assert product.drug_class is DrugClass.OTHER
        assert [item.ingredient for item in product.ingredients] == [name]


def test_control_characters_are_treated_as_spaces() -> None:
    product = _parsed("OXYCODONE\x00HCL\t5 MG\x1bTAB")
    assert product.opioid is not None
    assert product.opioid.strength == Decimal(5)


def test_micro_sign_means_micrograms() -> None:
    product = _parsed("Fentanyl 25 µg/hour transdermal patches")
    assert product.opioid is not None
    assert product.opioid.unit == "mcg/hr"


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_parse_product_never_raises_on_arbitrary_text(text: str) -> None:
    assert isinstance(parse_product(text), Product | ParseFailure)


_PIECES = st.sampled_from(
    [
        "oxycodone",
        "HCL",
        "5",
        "MG",
        "/",
        "-",
        "ML",
        "per",
        "HR",
        "patch",
        "tablet",
        "co-codamol",
        "ER",
        "[OxyContin]",
        "325",
        "0.025",
        "7 DAY",
        "seven day",
        "µg",
        "\x00",
        "é",
        "  ",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=40))
def test_parse_product_never_raises_on_product_like_text(pieces: list[str]) -> None:
    result = parse_product(" ".join(pieces))
    if isinstance(result, Product):
        assert result.ingredients
        assert all(item.strength > 0 for item in result.ingredients)


def test_long_repetitive_text_is_rejected_quickly() -> None:
    import time

    start = time.perf_counter()
    for text in ("5-" * 240, "MG/" * 160, "a" * 499, "co-" * 160 + "codamol"):
        assert isinstance(parse_product(text), ParseFailure)
    assert time.perf_counter() - start < 1.0
