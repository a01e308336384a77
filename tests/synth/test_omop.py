"""The OMOP folder loads with DuckDB and has the CDM 5.4 columns, required ones filled."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from taperwise.synth.run import SynthSummary
from taperwise.synth.writers.omop import COLUMNS

Made = tuple[Path, SynthSummary]
# Required (NOT NULL) columns of OMOP CDM 5.4 (OHDSI CommonDataModel, OMOP_CDMv5.4_Field_Level.csv).
REQUIRED = {
    "person": ("person_id", "gender_concept_id", "year_of_birth", "race_concept_id", "ethnicity_concept_id"),
    "drug_exposure": (
        "drug_exposure_id",
        "person_id",
        "drug_concept_id",
        "drug_exposure_start_date",
        "drug_exposure_end_date",
        "drug_type_concept_id",
    ),
    "concept": (
        "concept_id",
        "concept_name",
        "domain_id",
        "vocabulary_id",
        "concept_class_id",
        "concept_code",
        "valid_start_date",
        "valid_end_date",
    ),
    "death": ("person_id", "death_date"),
    "visit_occurrence": (
        "visit_occurrence_id",
        "person_id",
        "visit_concept_id",
        "visit_start_date",
        "visit_end_date",
        "visit_type_concept_id",
    ),
    "condition_occurrence": (
        "condition_occurrence_id",
        "person_id",
        "condition_concept_id",
        "condition_start_date",
        "condition_type_concept_id",
    ),
}


@pytest.fixture(scope="module")
def con(omop_folder: Made) -> duckdb.DuckDBPyConnection:
    folder, _ = omop_folder
    connection = duckdb.connect()
    for table in COLUMNS:
        connection.execute(
            f"create view {table} as select * from "
            f"read_csv('{folder / table}.csv', header=true, all_varchar=true)"
        )
    return connection


@pytest.mark.parametrize("table", sorted(REQUIRED))
def test_required_columns_are_present_and_filled(con: duckdb.DuckDBPyConnection, table: str) -> None:
    columns = [row[0] for row in con.execute(f"describe {table}").fetchall()]
    assert columns == list(COLUMNS[table])
    assert con.execute(f"select count(*) from {table}").fetchone()[0] > 0  # type: ignore[index]
    for column in REQUIRED[table]:
        empty = con.execute(f"select count(*) from {table} where {column} is null").fetchone()[0]  # type: ignore[index]
        assert empty == 0, f"{table}.{column}"


def test_drug_concepts_resolve_to_rxnorm_or_dmd_names(
    con: duckdb.DuckDBPyConnection, omop_folder: Made
) -> None:
    _, summary = omop_folder
    vocabularies = con.execute(
        "select distinct c.vocabulary_id from drug_exposure d"
        " join concept c on c.concept_id = d.drug_concept_id"
        " where d.drug_concept_id <> '0'"
    ).fetchall()
    assert {row[0] for row in vocabularies} == {"RxNorm", "dm+d"}
    unmapped = con.execute("select count(*) from drug_exposure where drug_concept_id = '0'").fetchone()[0]  # type: ignore[index]
    assert unmapped == summary.malformed["unknown_drug"] > 0
    orphans = con.execute(
        "select count(*) from drug_exposure d anti join concept c on c.concept_id = d.drug_concept_id"
    ).fetchone()[0]  # type: ignore[index]
    assert orphans == 0


def test_malformed_records_keep_their_corruption(con: duckdb.DuckDBPyConnection, omop_folder: Made) -> None:
    _, summary = omop_folder
    query = {
        "negative_quantity": "select count(*) from drug_exposure where try_cast(quantity as double) < 0",
        "missing_days_supply": "select count(*) from drug_exposure where days_supply is null",
        "bad_date": "select count(*) from drug_exposure"
        " where try_cast(drug_exposure_start_date as date) is null",
        "duplicate_rx_id": "select count(*) - count(distinct drug_exposure_id) from drug_exposure",
    }
    for kind, sql in query.items():
        assert con.execute(sql).fetchone()[0] == summary.malformed[kind] > 0, kind  # type: ignore[index]


def test_conditions_sit_in_emergency_visits(con: duckdb.DuckDBPyConnection) -> None:
    outside = con.execute(
        "select count(*) from condition_occurrence c anti join visit_occurrence v"
        " on v.visit_occurrence_id = c.visit_occurrence_id"
    ).fetchone()[0]  # type: ignore[index]
    assert outside == 0
    assert con.execute("select distinct visit_concept_id from visit_occurrence").fetchall() == [("9203",)]


def test_person_source_values_are_synthetic_serials(con: duckdb.DuckDBPyConnection) -> None:
    values = [row[0] for row in con.execute("select person_source_value from person").fetchall()]
    assert all(value.startswith("SP") and len(value) <= 10 for value in values)
