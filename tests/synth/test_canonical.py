"""The canonical CSV reads through the exposure engine: mostly counted rows, the malformed ones reported."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from taperwise.exposure.mme import prescription_mme
from taperwise.exposure.prescriptions import read_prescriptions
from taperwise.knowledge.catalogue import catalogue_entries
from taperwise.knowledge.model import ParseFailure
from taperwise.knowledge.parser import parse_product
from taperwise.synth.config import load_config
from taperwise.synth.products import product_table
from taperwise.synth.run import SynthSummary

Made = tuple[Path, SynthSummary]


@pytest.fixture(scope="module")
def mme_rows(canonical_csv: Made) -> pd.DataFrame:
    path, _ = canonical_csv
    return prescription_mme(read_prescriptions(path)).execute()


def test_most_rows_are_counted_opioids(mme_rows: pd.DataFrame) -> None:
    shares = mme_rows.status.value_counts(normalize=True)
    assert shares["ok"] > 0.75
    assert shares["not_opioid"] > 0.03  # benzodiazepines
    assert shares["excluded"] > 0.02  # buprenorphine


def test_every_malformed_kind_is_reported_with_its_reason(
    mme_rows: pd.DataFrame, canonical_csv: Made
) -> None:
    _, summary = canonical_csv
    reasons = mme_rows.reason.fillna("")
    expected = {
        "negative_quantity": (r"quantity '-\d+' must be a number above zero", "insufficient_data"),
        "missing_days_supply": (r"daily dose unknown|duration unknown", "insufficient_data"),
        "unknown_drug": (r"unknown ingredient '(?:zorbitol|quentarex|veloxadrine)'", "unrecognized"),
        "bad_date": (r"start_date '\d{4}-\d\d-\d\d' is not a date", "insufficient_data"),
        "duplicate_rx_id": (r"rx_id repeats input row", "excluded"),
    }
    for kind, (pattern, status) in expected.items():
        hits = mme_rows[reasons.str.contains(pattern, regex=True)]
        assert len(hits) == summary.malformed[kind] > 0, kind
        assert set(hits.status) == {status}, kind


def test_only_the_deliberately_unknown_drugs_are_unrecognized(
    mme_rows: pd.DataFrame, canonical_csv: Made
) -> None:
    _, summary = canonical_csv
    assert (mme_rows.status == "unrecognized").sum() == summary.malformed["unknown_drug"]


def test_every_generated_product_name_parses_to_a_catalogued_product_of_its_market() -> None:
    table = product_table()
    for product, style, text in table.variants:
        parsed = parse_product(text)
        assert not isinstance(parsed, ParseFailure), text
        assert catalogue_entries(parsed, table.products[product].row.market), (style, text)
    assert {style for _, style, _ in table.variants} == {"rxnorm", "claim", "dmd"}


def test_the_deliberately_unknown_drugs_do_not_parse() -> None:
    for text in load_config().parameters.malformed.unknown_drugs:
        assert isinstance(parse_product(text), ParseFailure), text


def test_uk_patients_get_dmd_names_and_us_patients_rxnorm_or_claim_names(canonical_csv: Made) -> None:
    path, _ = canonical_csv
    rx = pd.read_csv(path, dtype=str)
    patients = pd.read_csv(path.with_name("rx.patients.csv"), dtype=str)
    merged = rx.merge(patients, on="patient_id")
    styles = merged.drug.map(lambda text: getattr(parse_product(text), "style", "unknown"))
    uk = merged.organisation_id.str.startswith("ORG-UK")
    assert set(styles[uk]) <= {"dmd", "unknown"}
    assert {"rxnorm", "claim"} <= set(styles[~uk])


def test_no_output_holds_a_real_looking_identifier(canonical_csv: Made) -> None:
    path, _ = canonical_csv
    ssn = re.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)")
    nhs = re.compile(r"(?<![\d.])\d{3} ?\d{3} ?\d{4}(?![\d.])")
    for file in path.parent.glob("*.csv"):
        text = file.read_text(encoding="utf-8")
        assert not ssn.search(text), file
        assert not nhs.search(text), file


def test_no_prescription_or_event_after_a_death(canonical_csv: Made) -> None:
    path, _ = canonical_csv
    rx = pd.read_csv(path, dtype=str)
    patients = pd.read_csv(path.with_name("rx.patients.csv"), dtype=str)
    events = pd.read_csv(path.with_name("rx.events.csv"), dtype=str)
    dead = patients.dropna(subset=["death_date"])
    assert len(dead) > 0
    for table, column in ((rx, "start_date"), (events, "date")):
        joined = table.merge(dead, on="patient_id")
        assert (joined[column] <= joined.death_date).all()
    assert set(events.kind) == {"emergency_visit", "opioid_overdose", "mental_health_crisis", "death"}


def test_manifest_counts_match_the_files(canonical_csv: Made) -> None:
    path, summary = canonical_csv
    manifest = json.loads(path.with_name("rx.synth.json").read_text())
    assert manifest["prescriptions"] == len(pd.read_csv(path, dtype=str)) == summary.prescriptions
    assert manifest["patients"] == len(pd.read_csv(path.with_name("rx.patients.csv"), dtype=str))
    assert sum(manifest["archetypes"].values()) == manifest["patients"]
