"""Per-prescription daily MME (clinical-rules §1), checked against the CDC's own worked examples."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.exposure.helpers import (
    ALPRAZOLAM,
    BUPRENORPHINE_PATCH,
    FENTANYL_25,
    HYDROCODONE_APAP,
    METHADONE_10,
    OXY_APAP,
    OXY_IR_10,
    OXY_SOLUTION,
    mme_rows,
    rx,
)


def one(record: dict[str, object], factor_set: str = "cdc-2022") -> dict[str, object]:
    [row] = mme_rows([record], factor_set)
    return row


def test_cdc_file_example_oxycodone_10mg_120_tablets_30_days_is_60():
    row = one(rx("a", OXY_IR_10, days=30, qty=120))
    assert row["status"] == "ok"
    assert row["daily_mme"] == Decimal("60")
    assert row["mme_factor"] == 1.5
    assert row["units_per_day"] == 4
    assert row["covered_days"] == 30


def test_cdc_file_example_fentanyl_25_10_patches_30_days_is_60():
    row = one(rx("a", FENTANYL_25, days=30, qty=10))
    assert row["daily_mme"] == Decimal("60")
    assert row["mme_factor"] == 2.4  # per mcg/hr worn, never 7.2 on top of patches ÷ days
    assert row["strength"] == 25
    assert row["strength_unit"] == "mcg/hr"


def test_cdc_2022_footnote_hydrocodone_5mg_four_times_daily_is_20():
    assert one(rx("a", HYDROCODONE_APAP, days=30, qty=120))["daily_mme"] == Decimal("20")


def test_cdc_2022_footnote_oxycodone_er_10mg_twice_daily_is_30():
    drug = "12 HR Oxycodone Hydrochloride 10 MG Extended Release Oral Tablet"
    assert one(rx("a", drug, days=30, qty=60))["daily_mme"] == Decimal("30")


def test_patch_mme_is_the_same_from_the_sig_and_from_dispensing():
    from_dispensing = one(rx("a", FENTANYL_25, days=30, qty=10))
    from_sig = one(rx("a", FENTANYL_25, days=30, qty=10, units_per_day=1))
    assert from_sig["daily_mme"] == from_dispensing["daily_mme"] == Decimal("60")


def test_patch_mme_ignores_days_supply_when_sig_given():
    # 10 patches written for 20 days: the sig says one patch worn at a time, so 60 MME while worn.
    row = one(rx("a", FENTANYL_25, days=20, qty=10, units_per_day=1))
    assert row["daily_mme"] == Decimal("60")
    assert row["covered_days"] == 20


def test_patch_with_sig_and_no_days_supply_covers_patches_times_wear_days():
    row = one(rx("a", FENTANYL_25, days=None, qty=10, units_per_day=1))
    assert row["covered_days"] == 30
    assert row["daily_mme"] == Decimal("60")


def test_combination_product_counts_the_opioid_ingredient_only():
    row = one(rx("a", OXY_APAP, days=30, qty=120))
    assert row["ingredient"] == "oxycodone"
    assert row["strength"] == 5
    assert row["daily_mme"] == Decimal("30")


def test_liquid_in_ml_uses_strength_per_ml():
    # 1 mg/mL, 300 mL over 30 days = 10 mg/day oxycodone = 15 MME.
    row = one(rx("a", OXY_SOLUTION, days=30, qty=300))
    assert row["strength_unit"] == "mg/mL"
    assert row["daily_mme"] == Decimal("15")


def test_liquid_quantity_that_looks_like_bottles_is_reported():
    row = one(rx("a", OXY_SOLUTION, days=30, qty=1))
    assert row["status"] == "insufficient_data"
    assert "bottles" in row["reason"]


def test_structured_dose_gives_the_rate_and_supply_bounds_coverage():
    # 3 a day from the sig; 60 tablets last 20 days although 30 days were written.
    row = one(rx("a", OXY_IR_10, days=30, qty=60, units_per_day=3))
    assert row["units_per_day"] == 3
    assert row["daily_mme"] == Decimal("45")
    assert row["covered_days"] == 20


def test_as_needed_uses_quantity_over_supply_when_known():
    row = one(rx("a", OXY_IR_10, days=30, qty=30, units_per_day=4, as_needed="true"))
    assert row["units_per_day"] == 1
    assert row["daily_mme"] == Decimal("15")
    assert row["flags"] is None


def test_as_needed_without_supply_uses_sig_maximum_and_flags_it():
    row = one(rx("a", OXY_IR_10, days=None, qty=None, units_per_day=4, as_needed="yes"))
    assert row["flags"] == "prn_max"
    assert row["units_per_day"] == 4
    # no duration can be known without supply or quantity: reported, not guessed
    assert row["status"] == "insufficient_data"


@pytest.mark.parametrize(
    ("daily_mg", "factor"),
    [(20, 4), (30, 8), (40, 8), (50, 10), (60, 10), (70, 12)],
    ids=["20mg-tier-0-20", "30mg-tier-20-40", "40mg-upper-bound-inclusive", "50mg", "60mg", "70mg-over-60"],
)
def test_cdc_2016_methadone_factor_follows_half_open_daily_dose_tiers(daily_mg: int, factor: int):
    row = one(rx("a", METHADONE_10, days=30, qty=daily_mg * 3), factor_set="cdc-2016")
    assert row["mme_factor"] == factor
    assert row["daily_mme"] == Decimal(daily_mg * factor)


def test_cdc_2022_methadone_uses_a_single_factor():
    row = one(rx("a", METHADONE_10, days=30, qty=90))
    assert row["mme_factor"] == 4.7
    assert row["daily_mme"] == Decimal("141")


def test_hydromorphone_factor_differs_between_2016_and_2022():
    drug = "Hydromorphone Hydrochloride 2 MG Oral Tablet"
    assert one(rx("a", drug, qty=60), "cdc-2022")["daily_mme"] == Decimal("20")
    assert one(rx("a", drug, qty=60), "cdc-2016")["daily_mme"] == Decimal("16")


def test_every_counted_row_names_its_factor_source():
    row = one(rx("a", OXY_IR_10))
    assert row["factor_source"] == "cdc-2022@2022.1:cdc-2022-table"
    fallback = one(rx("a", "Meperidine Hydrochloride 50 MG Oral Tablet"))
    assert fallback["factor_source"].endswith(":cdc-ndc-2018")


def test_buprenorphine_is_excluded_but_keeps_its_coverage():
    row = one(rx("a", BUPRENORPHINE_PATCH, days=28, qty=4))
    assert row["status"] == "excluded"
    assert row["daily_mme"] is None
    assert row["covered_days"] == 28
    assert "buprenorphine" in row["reason"]


def test_benzodiazepine_is_not_an_opioid_but_keeps_its_coverage():
    row = one(rx("a", ALPRAZOLAM, days=30, qty=60))
    assert row["status"] == "not_opioid"
    assert row["drug_class"] == "benzodiazepine"
    assert row["covered_days"] == 30


def test_injectable_and_inpatient_rows_are_kept_and_marked():
    rows = mme_rows(
        [
            rx("a", "Hydromorphone Hydrochloride 2 MG/ML Injectable Solution", qty=10),
            rx("b", OXY_IR_10, setting="inpatient"),
        ]
    )
    assert [r["status"] for r in rows] == ["excluded", "excluded"]
    assert "injectable" in rows[0]["reason"]
    assert "inpatient" in rows[1]["reason"]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"qty": -30}, "quantity '-30' must be a number above zero"),
        ({"qty": 0}, "quantity '0' must be a number above zero"),
        ({"qty": "lots"}, "quantity 'lots' must be a number above zero"),
        ({"days": "7.5"}, "days_supply '7.5' must be a whole number above zero"),
        ({"days": None, "qty": 30}, "daily dose unknown"),
        ({"start": "03/01/2025"}, "start_date '03/01/2025' is not a date"),
        ({"units_per_day": "-1"}, "units_per_day '-1' must be a number above zero"),
        ({"patient_id": ""}, "patient_id is empty"),
    ],
    ids=["negative-quantity", "zero-quantity", "text-quantity", "fractional-days", "no-days-no-sig",
         "us-date", "negative-sig", "no-patient"],
)  # fmt: skip
def test_impossible_or_missing_values_are_reported_with_a_reason(changes: dict[str, object], expected: str):
    row = one(rx("a", OXY_IR_10, **changes))  # type: ignore[arg-type]
    assert row["status"] == "insufficient_data"
    assert expected in row["reason"]
    assert row["daily_mme"] is None


def test_unknown_and_hostile_products_are_reported_and_the_run_goes_on():
    hostile = [
        "'; DROP TABLE prescriptions; --",
        "Zorbitol 5 MG Oral Tablet",
        "<script>alert(1)</script>",
        "x" * 20_000,
        "",
    ]
    records = [rx(f"h{i}", text) for i, text in enumerate(hostile)]
    records += [rx("control", "Oxycodone\x00\x07 5 MG \u202e"), rx("good", OXY_IR_10)]
    rows = mme_rows(records)
    assert [r["rx_id"] for r in rows] == [r["rx_id"] for r in records]
    assert all(r["status"] == "unrecognized" and r["reason"] for r in rows[: len(hostile)])
    assert rows[-2]["status"] in {"ok", "unrecognized"}
    assert rows[-1]["status"] == "ok"


def test_every_input_row_comes_back_in_input_order():
    records = [rx(f"r{i}", OXY_IR_10 if i % 3 else "Nonsense", qty=(i % 5) - 1) for i in range(40)]
    rows = mme_rows(records)
    assert [r["rx_id"] for r in rows] == [f"r{i}" for i in range(40)]


def test_a_repeated_rx_id_is_excluded_so_a_fill_is_never_counted_twice():
    rows = mme_rows([rx("same", OXY_IR_10), rx("same", OXY_IR_10)])
    assert [r["status"] for r in rows] == ["ok", "excluded"]
    assert "repeats input row 1" in rows[1]["reason"]


def test_cancelled_and_entered_in_error_records_are_not_counted():
    rows = mme_rows([rx("a", OXY_IR_10, status="entered-in-error"), rx("b", OXY_IR_10, status="stopped")])
    assert [r["status"] for r in rows] == ["excluded", "ok"]


def test_strength_override_replaces_the_parsed_strength():
    row = one(rx("a", OXY_IR_10, qty=30, strength="15", strength_unit="mg"))
    assert row["strength"] == 15
    assert row["daily_mme"] == Decimal("22.5")


def test_an_incomplete_strength_override_is_reported():
    row = one(rx("a", OXY_IR_10, strength="15"))
    assert row["status"] == "insufficient_data"
    assert "strength override" in row["reason"]


def test_uk_factor_set_reports_missing_factors_instead_of_guessing():
    row = one(rx("a", "Pentazocine 50 MG Oral Tablet"), "uk-fpm")
    if row["status"] == "ok":  # the set has a verified pentazocine factor
        assert row["factor_source"].startswith("uk-fpm@")
    else:
        assert row["status"] == "insufficient_data"
        assert "factor set uk-fpm has no factor for pentazocine" in row["reason"]


# Issue 10 item 3: products and routes the review found wrong or missing.

BELBUCA = "Belbuca 150mcg buccal film"
SUBOXONE_FILM = "Buprenorphine 8 MG / Naloxone 2 MG Sublingual Film"


@pytest.mark.parametrize(
    ("drug", "route"),
    [(BELBUCA, "buccal"), ("BELBUCA 150 MCG BUCCAL FILM", "buccal"), (SUBOXONE_FILM, "sublingual"),
     ("buprenorphine/naloxone 8mg/2mg sublingual film", "sublingual"),
     ("buprenorphine 8 mg sublingual tablets", "sublingual"), ("Subutex 8mg tablets", "sublingual")],
)  # fmt: skip
def test_buccal_film_is_buprenorphine_for_pain_and_sublingual_film_or_tablet_is_not(drug, route):
    row = one(rx("a", drug, days=28, qty=56))
    assert (row["status"], row["drug_class"], row["route"]) == ("excluded", "buprenorphine", route)
    assert row["daily_mme"] is None
    assert row["covered_days"] == 28  # still supply, for buprenorphine_days_90d


def test_belbuca_counts_for_any_opioid_and_long_term_therapy_and_suboxone_film_does_not():
    import datetime as dt

    from tests.exposure.helpers import registry_of

    fills = [("2025-01-01", 30), ("2025-01-31", 30), ("2025-03-02", 30)]
    records = [
        rx(f"b{n}", BELBUCA, start=start, days=days, qty=days * 2, patient_id="PAIN")
        for n, (start, days) in enumerate(fills)
    ]
    records += [
        rx(f"s{n}", SUBOXONE_FILM, start=start, days=days, qty=days * 2, patient_id="MOUD")
        for n, (start, days) in enumerate(fills)
    ]
    records.append(rx("o", OXY_IR_10, start="2025-03-20", days=5, qty=20, patient_id="MOUD"))
    result = registry_of(records, dt.date(2025, 3, 31))
    pain, moud = result["PAIN"], result["MOUD"]
    assert (pain["days_covered_90d"], pain["ltot"], pain["avg_daily_mme_90d"]) == (90, True, 0)
    assert pain["buprenorphine_days_90d"] == 90
    assert (moud["days_covered_90d"], moud["ltot"]) == (5, False)  # only the oxycodone is opioid therapy
    assert moud["buprenorphine_days_90d"] == 90


def test_a_film_that_does_not_say_buccal_or_sublingual_is_unrecognised_never_assumed():
    row = one(rx("a", "BUPRENORPHINE-NALOXONE 8-2 MG FILM"))
    assert row["status"] == "unrecognized"
    assert "does not say buccal or sublingual" in row["reason"]


def test_fentanyl_films_keep_the_cdc_film_factor_on_both_paths():
    from taperwise.exposure.dose import daily_mme

    film, tablet = mme_rows(
        [rx("f", "Fentanyl 200 MCG Buccal Film", qty=60), rx("t", "Fentanyl 200 MCG Buccal Tablet", qty=60)]
    )
    assert (film["route"], film["mme_factor"], film["daily_mme"]) == ("buccal", 0.18, Decimal(72))
    assert (tablet["route"], tablet["mme_factor"], tablet["daily_mme"]) == ("buccal", 0.13, Decimal(52))
    scalar = daily_mme("fentanyl", "buccal", Decimal(400), "mcg", dose_form="film")
    assert scalar.daily_mme == film["daily_mme"]
    assert daily_mme("fentanyl", "buccal", Decimal(400), "mcg").daily_mme == tablet["daily_mme"]


@pytest.mark.parametrize("factor_set", ["cdc-2022", "cdc-2016"])
def test_sublingual_fentanyl_spray_is_018_and_nasal_spray_016_as_the_cdc_file_rows_say(factor_set):
    # CDC NDC/MME file, sheet Opioids: SUBSYS (NDC 20482000110, ...) 0.18; LAZANDA (51772031101, ...) 0.16.
    subsys, lazanda = mme_rows(
        [rx("s", "Fentanyl 100 MCG/ACTUAT Sublingual Spray [Subsys]", qty=120),
         rx("l", "Lazanda 100 mcg nasal spray", qty=120)],
        factor_set,
    )  # fmt: skip
    assert (subsys["route"], subsys["mme_factor"], subsys["daily_mme"]) == ("oral_spray", 0.18, Decimal(72))
    assert (lazanda["route"], lazanda["mme_factor"], lazanda["daily_mme"]) == ("nasal", 0.16, Decimal(64))


def test_xtampza_mme_is_that_of_the_oxycodone_hydrochloride_it_is_equivalent_to():
    # 9 mg oxycodone base twice a day is 20 mg oxycodone HCl a day: 30 MME, not 27.
    from taperwise.exposure.dose import daily_mme

    row = one(rx("x", "Xtampza ER 9 mg capsules", days=30, qty=60))
    assert (row["status"], row["strength"], row["units_per_day"]) == ("ok", 10, 2)
    assert row["daily_mme"] == Decimal(30)
    assert "labelled as the base: counted as 10 mg oxycodone hydrochloride" in row["flags"]
    assert daily_mme("oxycodone", "oral", Decimal(20), "mg").daily_mme == row["daily_mme"]


def test_opium_tincture_counts_its_morphine_content():
    # Opium Tincture USP is 10 mg/mL anhydrous morphine: 0.6 mL four times a day is 24 mg morphine.
    row = one(rx("o", "Opium Tincture 10 MG/ML Oral Solution", days=30, qty=72, quantity_unit="mL"))
    assert (row["ingredient"], row["strength"], row["units_per_day"]) == ("opium", 10, 2.4)
    assert (row["mme_factor"], row["daily_mme"]) == (1, Decimal(24))


@pytest.mark.parametrize(
    ("drug", "status"),
    [("Zamadol SR 100mg capsules", "ok"), ("Methadone Hydrochloride 40 MG Tablet for Oral Suspension", "ok"),
     ("Kadian 20mg capsules", "ok"), ("ConZip 100 mg capsules", "ok"), ("OXYCODONE HCL 5 MG CAP", "ok"),
     ("Palexia SR 25mg prolonged-release tablets", "ok"), ("Methadose 20mg/1ml oral concentrate", "ok")],
)  # fmt: skip
def test_products_the_review_found_unreadable_are_counted(drug, status):
    row = one(rx("a", drug, days=30, qty=60, quantity_unit="mL" if "/1ml" in drug else None))
    assert row["status"] == status, row["reason"]


def test_methadone_40_mg_dispersible_tablets_count_at_the_methadone_factor():
    row = one(rx("m", "Methadone Hydrochloride 40 MG Tablet for Oral Suspension", days=30, qty=30))
    assert (row["strength"], row["mme_factor"], row["daily_mme"]) == (40, 4.7, Decimal(188))


@pytest.mark.parametrize(
    "drug",
    ["Fenfluramine 2.2 MG/ML Oral Solution", "Paracetamol 500mg tablets", "Gabapentin 300 MG Oral Capsule"],
)
def test_a_recognised_non_opioid_is_not_opioid_never_unrecognized(drug):
    row = one(rx("a", drug, days=30, qty=60, quantity_unit="mL" if "/ML" in drug else None))
    assert (row["status"], row["drug_class"]) == ("not_opioid", "other")
    assert row["reason"].endswith("not an opioid")


@pytest.mark.parametrize(
    ("drug", "meant"), [("Oxycodon 10 mg tablet", "oxycodone"), ("Morfine 10mg", "morphine")]
)
def test_a_near_miss_of_an_opioid_name_stays_unrecognized_with_the_name_it_resembles(drug, meant):
    row = one(rx("a", drug))
    assert row["status"] == "unrecognized"
    assert row["reason"].endswith(f"did you mean {meant}?")


def test_cdc_2016_methadone_above_80_mg_a_day_takes_the_last_tier_by_extrapolation():
    from taperwise.knowledge.factors import load_factor_set

    row = one(rx("m", METHADONE_10, days=30, qty=300), "cdc-2016")  # 100 mg/day
    assert (row["mme_factor"], row["daily_mme"]) == (12, Decimal(1200))
    (last,) = [
        f for f in load_factor_set("cdc-2016").factors if f.ingredient == "methadone" and f.dose_up_to is None
    ]
    assert "extrapolation of that last tier" in last.note
