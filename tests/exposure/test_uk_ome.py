"""The UK oral-morphine-equivalent (OME) sets on real UK product strings (decision 0010).

Expected values: the factor each row cites (`uk-fpm`: the FPM Opioids Aware table, reviewed August 2020
to the BNF figures, as OpenPrescribing's OME table gives it; `uk-openprescribing`: that table), times the
daily dose. Patches follow OpenPrescribing's rule, 100 mg OME per mg delivered a day = 2.4 per mcg/hr worn.
The FPM table's patch rows (fentanyl 12 → 30, 25 → 60, 50 → 120, 75 → 180, 100 → 240 mg/day; 7-day
buprenorphine 5 → 12, 10 → 24, 20 → 48; twice-weekly 35 → 84, 52 → 126, 70 → 168) were read from stored
reproductions of the table, not from the FPM page itself (its stored copy stops after codeine): the rule
gives every one of them except the 12 mcg/hr patch, where it gives 28.8 and the table 30.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taperwise.exposure.dose import NoFactorError, NotCountedError, daily_mme
from taperwise.exposure.engine import connect
from taperwise.exposure.mme import EXTRA_COLUMNS, MME_COLUMNS, prescription_mme
from taperwise.exposure.prescriptions import ROW, prescriptions_from_records, read_prescriptions
from taperwise.exposure.registry import registry
from taperwise.exposure.segments import constant_segments
from taperwise.knowledge.catalogue import load_catalogue
from taperwise.knowledge.factors import BUPRENORPHINE_NEVER, available_factor_sets, load_factor_set
from taperwise.knowledge.registry import load_priority_rules, load_registry_settings
from tests.exposure.helpers import mme_rows, rx

UK_SETS = ("uk-fpm", "uk-openprescribing")
ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "prescriptions.csv"


def registry_rows(
    records: list[dict[str, Any]], factor_set: str, as_of: dt.date, settings_file: Path | None = None
) -> list[dict[str, Any]]:
    rows = prescription_mme(prescriptions_from_records(records), factor_set)
    table = registry(rows, as_of, load_registry_settings(settings_file), load_priority_rules())
    return table.to_pyarrow().to_pylist()


def one(record: dict[str, Any], factor_set: str) -> dict[str, Any]:
    (row,) = mme_rows([record], factor_set)
    return row


def scalar(row: dict[str, Any], factor_set: str) -> Decimal:
    """The scalar path's daily OME for an engine row (what the taper engine would compute)."""
    amount = Decimal(str(row["strength"])) * Decimal(str(row["units_per_day"]))
    unit = row["strength_unit"] if row["strength_unit"] == "mcg/hr" else row["strength_unit"].split("/")[0]
    return daily_mme(row["ingredient"], row["route"], amount, unit, factor_set).daily_mme


# (product text, days, quantity, factor, expected daily OME): oral rows of the FPM table.
ORAL = [
    ("Tramadol 50mg capsules", 30, 120, "0.1", "20"),  # 200 mg/day x 0.1 (CDC 2022: 0.2)
    ("Co-codamol 30mg/500mg tablets", 28, 224, "0.1", "24"),  # 8 a day: 240 mg codeine x 0.1
    ("Codeine 30mg tablets", 30, 120, "0.1", "12"),
    ("Dihydrocodeine 30mg tablets", 30, 120, "0.1", "12"),  # CDC NDC file: 0.25
    ("Hydromorphone 1.3mg capsules", 30, 120, "5", "26"),
    ("Oxycodone 10mg modified-release tablets", 30, 60, "1.5", "30"),
    ("Tapentadol 50mg modified-release tablets", 30, 60, "0.4", "40"),
    ("Morphine 30mg modified-release tablets", 28, 56, "1", "60"),
    ("Morphine sulfate 10mg/5ml oral solution", 30, 300, "1", "20"),  # 10 mL a day = 20 mg
]
# (product text, expected daily OME with one patch worn): OpenPrescribing's rule, 2.4 per mcg/hr.
PATCHES = [
    ("Fentanyl 12micrograms/hour transdermal patches", "28.8"),  # the FPM table rounds this to 30
    ("Fentanyl 25micrograms/hour transdermal patches", "60"),
    ("Fentanyl 50micrograms/hour transdermal patches", "120"),
    ("Fentanyl 75micrograms/hour transdermal patches", "180"),
    ("Fentanyl 100micrograms/hour transdermal patches", "240"),
    ("Butrans 5micrograms/hour transdermal patches", "12"),  # 7-day patch
    ("Buprenorphine 5micrograms/hour seven day transdermal patches", "12"),
    ("Butrans 10micrograms/hour transdermal patches", "24"),
    ("Butrans 15micrograms/hour transdermal patches", "36"),  # not in the FPM table; the rule gives 36
    ("Butrans 20micrograms/hour transdermal patches", "48"),
    ("Transtec 35micrograms/hour transdermal patches", "84"),  # 96-hour patch
    ("Transtec 52.5micrograms/hour transdermal patches", "126"),
    ("Transtec 70micrograms/hour transdermal patches", "168"),
]
SUBLINGUAL_AND_FILM_BUPRENORPHINE = [
    "Subutex 8mg sublingual tablets",
    "Buprenorphine 2mg sublingual tablets",
    "Suboxone 8mg/2mg sublingual tablets",
    "Suboxone 8mg/2mg sublingual film",
    "Buprenorphine 8 MG / Naloxone 2 MG Sublingual Tablet",
    "Temgesic 200microgram sublingual tablets",  # for pain, but OpenPrescribing's 60 is not used
    "Belbuca 150mcg buccal film",
]


@pytest.mark.parametrize("factor_set", UK_SETS)
@pytest.mark.parametrize(("drug", "days", "qty", "factor", "expected"), ORAL, ids=[o[0] for o in ORAL])
def test_each_uk_oral_row_gives_its_cited_value_on_a_uk_product(
    factor_set, drug, days, qty, factor, expected
):
    row = one(rx("a", drug, days=days, qty=qty), factor_set)
    assert row["status"] == "ok", row["reason"]
    assert row["mme_factor"] == float(factor)
    assert row["daily_mme"] == Decimal(expected)
    assert row["factor_source"].startswith(f"{factor_set}@{load_factor_set(factor_set).version}:")
    assert scalar(row, factor_set) == Decimal(expected)


@pytest.mark.parametrize("factor_set", UK_SETS)
@pytest.mark.parametrize(("drug", "expected"), PATCHES, ids=[p[0] for p in PATCHES])
def test_patches_are_100_ome_per_mg_delivered_a_day(factor_set, drug, expected):
    wear_days = 3 if "Fentanyl" in drug else 4 if "Transtec" in drug else 7
    row = one(rx("a", drug, days=84, qty=84 // wear_days), factor_set)
    assert row["status"] == "ok", row["reason"]
    assert row["units_per_day"] == 1  # one patch worn at a time, from quantity x wear days / supply
    assert row["mme_factor"] == 2.4
    assert row["daily_mme"] == Decimal(expected)
    assert scalar(row, factor_set) == Decimal(expected)


def test_the_factor_set_metadata_is_on_every_counted_row():
    codeine, tramadol = mme_rows(
        [rx("c", "Codeine 30mg tablets", qty=120), rx("t", "Tramadol 50mg capsules", qty=120)], "uk-fpm"
    )
    assert codeine["factor_source"] == "uk-fpm@2020.1:fpm-opioids-aware"  # read from the FPM page
    assert tramadol["factor_source"] == "uk-fpm@2020.1:openprescribing-ome"
    row = one(rx("t", "Tramadol 50mg capsules", qty=120), "uk-openprescribing")
    assert row["factor_source"] == "uk-openprescribing@2024.1:openprescribing-ome"


def test_methadone_has_no_uk_fpm_factor_and_is_reported_never_guessed():
    records = [rx("m", "Methadone 5mg tablets", start="2025-03-01", days=30, qty=60, patient_id="M")]
    (row,) = mme_rows(records, "uk-fpm")
    assert row["status"] == "insufficient_data"
    assert row["daily_mme"] is None
    assert row["reason"] == "factor set uk-fpm has no factor for methadone (oral, mg)"
    with pytest.raises(NoFactorError, match="has no factor for methadone"):
        daily_mme("methadone", "oral", Decimal(10), "mg", "uk-fpm")
    (patient,) = registry_rows(records, "uk-fpm", dt.date(2025, 3, 30))
    assert patient["dose_complete"] is False
    assert patient["dose_gap"].startswith("factor set uk-fpm has no factor for methadone")
    # OpenPrescribing's table does give one (3, from a US Medicaid table): the other named set.
    assert one(records[0], "uk-openprescribing")["daily_mme"] == Decimal(30)


@pytest.mark.parametrize("factor_set", available_factor_sets())
@pytest.mark.parametrize("drug", SUBLINGUAL_AND_FILM_BUPRENORPHINE)
def test_sublingual_and_film_buprenorphine_is_never_counted_in_any_set(factor_set, drug):
    row = one(rx("a", drug, days=28, qty=28), factor_set)
    assert row["status"] == "excluded"
    assert row["daily_mme"] is None
    assert row["covered_days"] == 28  # still supply, for buprenorphine_days_90d
    fs = load_factor_set(factor_set)
    assert row["reason"] == fs.buprenorphine_exclusion(row["route"])
    with pytest.raises(NotCountedError, match="buprenorphine"):
        daily_mme("buprenorphine", row["route"], Decimal(8), "mg", factor_set)


@pytest.mark.parametrize("factor_set", available_factor_sets())
def test_buprenorphine_patches_count_exactly_where_the_set_says_so(factor_set):
    fs = load_factor_set(factor_set)
    row = one(rx("a", "Butrans 5micrograms/hour transdermal patches", days=28, qty=4), factor_set)
    if fs.counts_buprenorphine("transdermal"):
        assert row["status"] == "ok"
        assert row["daily_mme"] == Decimal(12)
        assert daily_mme("buprenorphine", "transdermal", Decimal(5), "mcg/hr", factor_set).daily_mme == 12
    else:  # the US sets: excluded with its own reason, never in MME (hazard E-8)
        assert row["status"] == "excluded"
        assert row["reason"] == BUPRENORPHINE_NEVER
        with pytest.raises(NotCountedError, match="never in MME"):
            daily_mme("buprenorphine", "transdermal", Decimal(5), "mcg/hr", factor_set)


def test_uk_ome_counts_a_buprenorphine_patch_in_the_registry_dose():
    """Butrans 20 (48 OME) with oxycodone MR 20 mg BD (60): 108 OME/day, high dose under --settings uk;
    under cdc-2022 only the oxycodone (60 MME) counts and the patch stays in its own column."""
    records = [
        rx("b", "Butrans 20micrograms/hour transdermal patches", "2025-01-01", 91, 13, patient_id="P"),
        rx("o", "Oxycodone 20mg modified-release tablets", "2025-01-01", 91, 182, patient_id="P"),
    ]
    as_of = dt.date(2025, 3, 31)
    (uk,) = registry_rows(records, "uk-fpm", as_of, Path("uk"))
    assert uk["avg_daily_mme_90d"] == Decimal(108)
    assert uk["high_dose_90"] is True
    assert uk["buprenorphine_days_90d"] == 90
    (us,) = registry_rows(records, "cdc-2022", as_of, Path("uk"))
    assert us["avg_daily_mme_90d"] == Decimal(60)
    assert us["high_dose_90"] is False
    assert us["buprenorphine_days_90d"] == 90


def test_the_uk_settings_presets_change_only_the_thresholds():
    default, uk, uk_120 = (load_registry_settings(p) for p in (None, Path("uk"), Path("uk-120")))
    assert default.high_dose_thresholds == (50, 90)
    assert uk.high_dose_thresholds == (50, 90)  # 90: the Opioids Aware high dose since November 2025
    assert uk_120.high_dose_thresholds == (90, 120)  # and the 120 it replaced
    for preset in (uk, uk_120):
        assert preset.version.startswith("2026.12.1-uk")
        assert preset.raw["high_dose"]["source_id"] == "openprescribing-high-dose"
        changed = {"version", "preset", "high_dose"}
        assert {k: v for k, v in preset.raw.items() if k not in changed} == {
            k: v for k, v in default.raw.items() if k not in changed
        }


UK_PRODUCTS = [drug for drug, *_ in ORAL] + [drug for drug, _ in PATCHES] + [
    "Methadone 5mg tablets", "Subutex 8mg sublingual tablets", "Morphine 10mg suppositories",
    "Effentora 100microgram buccal tablets", "Pethidine 50mg tablets", "Diamorphine 10mg tablets",
]  # fmt: skip


@settings(max_examples=25, deadline=None)
@given(
    st.sampled_from(UK_SETS),
    st.lists(
        st.tuples(st.sampled_from(UK_PRODUCTS), st.integers(1, 60), st.integers(1, 240)),
        min_size=1,
        max_size=8,
    ),
)
def test_uk_engine_and_scalar_ome_agree_row_by_row(factor_set, prescriptions):
    records = [rx(f"r{n}", drug, days=days, qty=qty) for n, (drug, days, qty) in enumerate(prescriptions)]
    for row in mme_rows(records, factor_set):
        if row["status"] == "ok":
            assert scalar(row, factor_set) == row["daily_mme"], prescriptions[int(row["rx_id"][1:])]
        elif row["drug_class"] == "buprenorphine" and row["status"] == "excluded":
            with pytest.raises(NotCountedError):
                scalar(row, factor_set)


def test_engine_and_scalar_are_equal_on_every_catalogue_product_under_uk_openprescribing():
    records = []
    for n, entry in enumerate(load_catalogue()):
        release = "Extended Release " if entry.release.value == "ER" else ""
        text = f"{entry.ingredient} {entry.strength:f} {entry.unit.upper()} {release}{entry.route.value} " + (
            entry.dose_form
        )
        records.append(rx(f"c{n}", text, days=30, qty=60))
    counted = 0
    for row in mme_rows(records, "uk-openprescribing"):
        if row["status"] == "ok":
            assert scalar(row, "uk-openprescribing") == row["daily_mme"]
            counted += 1
    assert counted > 50


def test_uk_sets_give_the_same_rows_on_duckdb_and_spark(tmp_path: Path):
    """The set-dependent buprenorphine rule and the UK rows on both engines (test_engines runs cdc-2022):
    the sample with UK products added, per-row OME and segments under both UK sets."""
    source = tmp_path / "uk.csv"
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    width = lines[0].count(",") - 5  # the sample's columns after patient_id … quantity
    extra = [(f"u{n}", drug, 56) for n, drug in enumerate(UK_PRODUCTS)]
    extra += [(f"s{n}", drug, 28) for n, drug in enumerate(SUBLINGUAL_AND_FILM_BUPRENORPHINE)]
    for n, (rx_id, drug, qty) in enumerate(extra):
        lines.append(f"U{n % 4},{rx_id},{drug},2025-0{1 + n % 3}-01,28,{qty}" + "," * width)
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def outputs(engine: str) -> dict[str, list[dict[str, Any]]]:
        results = {}
        with connect(engine) as con:
            for factor_set in UK_SETS:
                rows = prescription_mme(read_prescriptions(source, con), factor_set)
                mme = rows.order_by(ROW).select(*MME_COLUMNS, *EXTRA_COLUMNS)
                results[f"{factor_set} mme"] = con.to_pyarrow(mme).to_pylist()
                segments = constant_segments(rows).order_by(["patient_id", "start_date"])
                results[f"{factor_set} segments"] = con.to_pyarrow(segments).to_pylist()
        return results

    on_duckdb, on_spark = outputs("duckdb"), outputs("spark")
    for name, expected in on_duckdb.items():
        assert on_spark[name] == expected, name
    buprenorphine = [r for r in on_duckdb["uk-fpm mme"] if r["drug_class"] == "buprenorphine"]
    assert {r["status"] for r in buprenorphine} == {"ok", "excluded"}
    assert on_duckdb["uk-fpm segments"]


def test_a_counted_patch_whose_dose_cannot_be_worked_out_makes_the_uk_dose_incomplete():
    """Under a UK set a buprenorphine patch counts, so a patch with no quantity and no sig is an unknown
    dose (a lower bound), never a complete one; under cdc-2022 it is not counted at all."""
    records = [
        rx("b", "Butrans 20micrograms/hour transdermal patches", "2025-01-01", 91, "", patient_id="P"),
        rx("o", "Oxycodone 20mg modified-release tablets", "2025-01-01", 91, 182, patient_id="P"),
    ]
    as_of = dt.date(2025, 3, 31)
    (uk,) = registry_rows(records, "uk-fpm", as_of, Path("uk"))
    assert uk["dose_complete"] is False
    assert uk["unknown_dose_days_90d"] == 90
    assert uk["avg_daily_mme_90d"] == Decimal(60)  # the oxycodone alone: a lower bound
    assert uk["high_dose_90"] is None
    (us,) = registry_rows(records, "cdc-2022", as_of, Path("uk"))
    assert us["dose_complete"] is True
