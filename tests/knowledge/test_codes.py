"""Code tables from the CDC NDC/MME workbook and from OMOP drug_strength + concept, and the conflict check.

Every file here is made by the test; the codes in them are invented, never real NDCs or RxCUIs.
"""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from taperwise.errors import UnusableInputError
from taperwise.knowledge.codes import CodeTable, load_cdc_ndc_file, load_omop_drug_strength, normalise_ndc
from taperwise.knowledge.model import Product, Release, Route
from taperwise.knowledge.parser import parse_product

CDC_HEADER = [
    "NDC",
    "PRODNME",
    "GENNME",
    "Master_Form",
    "Class",
    "Drug",
    "LongShortActing",
    "DEAClassCode",
    "Strength_Per_Unit",
    "UOM",
    "MME_Conversion_Factor",
]


def _workbook(path: Path, header: list[str], rows: list[list[object]], sheet: str = "Opioids") -> Path:
    book = openpyxl.Workbook()
    first = book.active
    assert first is not None
    first.title = "Read Me"
    data = book.create_sheet(sheet)
    data.append(header)
    for row in rows:
        data.append(row)
    book.save(path)
    return path


def _product(text: str) -> Product:
    result = parse_product(text)
    assert isinstance(result, Product), text
    return result


@pytest.fixture
def cdc_file(tmp_path: Path) -> Path:
    rows: list[list[object]] = [
        [
            "00000000001",
            "OXYCONTIN",
            "Oxycodone Hydrochloride",
            "Tablet, Extended Release",
            "Opioid",
            "Oxycodone",
            "LA",
            "2",
            20,
            "MG",
            1.5,
        ],
        [
            "00000000002",
            "PERCOCET",
            "Oxycodone Hydrochloride/Acetaminophen",
            "Tablet",
            "Opioid",
            "Oxycodone",
            "SA",
            "2",
            5,
            "MG",
            1.5,
        ],
        [
            3,
            "FENTANYL",
            "Fentanyl",
            "Patch, Extended Release",
            "Opioid",
            "Fentanyl",
            "LA",
            "2",
            25,
            "MCG/HR",
            7.2,
        ],
        [
            "00000000004",
            "OXYCODONE HCL",
            "Oxycodone Hydrochloride",
            "Solution",
            "Opioid",
            "Oxycodone",
            "SA",
            "2",
            1,
            "MG/ML",
            1.5,
        ],
        ["00000000005", "MYSTERY", "Zorbitol", "Tablet", "Opioid", "Zorbitol", "SA", "2", 5, "MG", 1],
        [
            "00000000006",
            "ODD FORM",
            "Morphine Sulfate",
            "Lollipop",
            "Opioid",
            "Morphine",
            "SA",
            "2",
            5,
            "MG",
            1,
        ],
    ]
    return _workbook(tmp_path / "cdc.xlsx", CDC_HEADER, rows)


def test_cdc_file_rows_become_products_keyed_by_11_digit_ndc(cdc_file: Path) -> None:
    table = load_cdc_ndc_file(cdc_file)
    er = table.lookup("ndc", "00000000001")
    assert er is not None
    assert er.opioid is not None
    assert (er.opioid.ingredient, er.opioid.strength, er.release) == (
        "oxycodone",
        Decimal(20),
        Release.EXTENDED,
    )
    patch = table.lookup("ndc", "00000-0000-03")
    assert patch is not None
    assert patch.opioid is not None
    assert (patch.route, patch.opioid.unit, patch.wear_hours) == (Route.TRANSDERMAL, "mcg/hr", 72)
    liquid = table.lookup("NDC", "00000000004")
    assert liquid is not None
    assert liquid.opioid is not None
    assert liquid.opioid.unit == "mg/mL"


def test_cdc_rows_that_cannot_be_read_are_reported_not_dropped(cdc_file: Path) -> None:
    table = load_cdc_ndc_file(cdc_file)
    assert len(table) == 4
    assert len(table.issues) == 2
    assert any("row 6" in issue and "no known opioid" in issue for issue in table.issues)
    assert any("row 7" in issue and "lollipop" in issue for issue in table.issues)


def test_cdc_film_rows_take_their_route_from_the_brand_and_are_never_assumed(tmp_path: Path) -> None:
    # The file's Master_Form "Film" does not say buccal or sublingual; BELBUCA and SUBOXONE do.
    rows: list[list[object]] = [
        ["00000000011", "BELBUCA", "Buprenorphine", "Film", "Opioid", "Buprenorphine", "LA", "3", 150,
         "MCG", None],
        ["00000000012", "SUBOXONE", "Buprenorphine/naloxone", "Film", "Opioid", "Buprenorphine", "LA", "3", 8,
         "MG", None],
        ["00000000013", "BUPRENORPHINE-NALOXONE", "Buprenorphine/naloxone", "Film", "Opioid", "Buprenorphine",
         "LA", "3", 8, "MG", None],
    ]  # fmt: skip
    table = load_cdc_ndc_file(_workbook(tmp_path / "films.xlsx", CDC_HEADER, rows))
    belbuca, suboxone = table.lookup("ndc", "00000000011"), table.lookup("ndc", "00000000012")
    assert belbuca is not None
    assert suboxone is not None
    assert (belbuca.route, suboxone.route) == (Route.BUCCAL, Route.SUBLINGUAL)
    assert table.lookup("ndc", "00000000013") is None
    assert any("row 4" in issue and "does not say buccal or sublingual" in issue for issue in table.issues)


def test_cdc_file_missing_columns_are_named(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "bad.xlsx", ["NDC", "GENNME", "Master Form"], [["1", "Oxycodone", "Tablet"]])
    with pytest.raises(UnusableInputError, match="missing column\\(s\\) strength_per_unit, uom"):
        load_cdc_ndc_file(path)


def test_cdc_file_accepts_spaces_for_underscores_in_headers(tmp_path: Path) -> None:
    header = [name.replace("_", " ") for name in CDC_HEADER]
    path = _workbook(
        tmp_path / "spaced.xlsx",
        header,
        [["00000000009", "X", "Morphine Sulfate", "Tablet", "Opioid", "Morphine", "SA", "2", 15, "MG", 1]],
    )
    assert load_cdc_ndc_file(path).lookup("ndc", "00000000009") is not None


def test_cdc_file_unknown_sheet_is_named(cdc_file: Path) -> None:
    with pytest.raises(UnusableInputError, match="no sheet 'Benzos'"):
        load_cdc_ndc_file(cdc_file, sheet="Benzos")


def _csv(path: Path, header: list[str], rows: list[list[str]], delimiter: str = ",") -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


CONCEPT_HEADER = [
    "concept_id",
    "concept_name",
    "domain_id",
    "vocabulary_id",
    "concept_class_id",
    "standard_concept",
    "concept_code",
]
STRENGTH_HEADER = [
    "drug_concept_id",
    "ingredient_concept_id",
    "amount_value",
    "amount_unit_concept_id",
    "numerator_value",
    "numerator_unit_concept_id",
    "denominator_value",
    "denominator_unit_concept_id",
    "box_size",
]


@pytest.fixture
def omop_files(tmp_path: Path) -> tuple[Path, Path]:
    concepts = [
        ["9001", "milligram", "Unit", "UCUM", "Unit", "S", "mg"],
        ["9002", "microgram", "Unit", "UCUM", "Unit", "S", "ug"],
        ["9003", "milliliter", "Unit", "UCUM", "Unit", "S", "mL"],
        ["9004", "hour", "Unit", "UCUM", "Unit", "S", "h"],
        ["8001", "oxycodone", "Drug", "RxNorm", "Ingredient", "S", "TEST-IN-1"],
        ["8002", "acetaminophen", "Drug", "RxNorm", "Ingredient", "S", "TEST-IN-2"],
        ["8003", "fentanyl", "Drug", "RxNorm", "Ingredient", "S", "TEST-IN-3"],
        ["8004", "morphine", "Drug", "RxNorm", "Ingredient", "S", "TEST-IN-4"],
        [
            "7001",
            "acetaminophen 325 MG / oxycodone hydrochloride 5 MG Oral Tablet",
            "Drug",
            "RxNorm",
            "Clinical Drug",
            "S",
            "TEST-1",
        ],
        [
            "7002",
            "72 HR fentanyl 0.025 MG/HR Transdermal System",
            "Drug",
            "RxNorm",
            "Clinical Drug",
            "S",
            "TEST-2",
        ],
        ["7003", "morphine sulfate 2 MG/ML Oral Solution", "Drug", "RxNorm", "Clinical Drug", "S", "TEST-3"],
        ["7004", "morphine sulfate 15 MG Oral Tablet", "Drug", "RxNorm", "Clinical Drug", "S", "TEST-4"],
    ]
    strengths = [
        ["7001", "8002", "325", "9001", "", "", "", "", ""],
        ["7001", "8001", "5", "9001", "", "", "", "", ""],
        ["7002", "8003", "", "", "0.025", "9001", "", "9004", ""],
        ["7003", "8004", "", "", "10", "9001", "5", "9003", ""],
        ["7004", "8004", "30", "9001", "", "", "", "", ""],
    ]
    concept = _csv(tmp_path / "CONCEPT.csv", CONCEPT_HEADER, concepts, delimiter="\t")
    strength = _csv(tmp_path / "drug_strength.csv", STRENGTH_HEADER, strengths)
    return strength, concept


def test_omop_drug_strength_gives_products_by_concept_id_and_rxnorm_code(
    omop_files: tuple[Path, Path],
) -> None:
    table = load_omop_drug_strength(*omop_files)
    combo = table.lookup("omop", "7001")
    assert combo is not None
    assert [(i.ingredient, i.strength) for i in combo.ingredients] == [
        ("acetaminophen", Decimal(325)),
        ("oxycodone", Decimal(5)),
    ]
    patch = table.lookup("rxnorm", "TEST-2")
    assert patch is not None
    assert patch.opioid is not None
    assert (patch.opioid.strength, patch.opioid.unit, patch.wear_hours) == (Decimal(25), "mcg/hr", 72)
    liquid = table.lookup("omop", "7003")
    assert liquid is not None
    assert liquid.opioid is not None
    assert (liquid.opioid.strength, liquid.opioid.unit) == (Decimal(2), "mg/mL")


def test_omop_name_and_strength_disagreement_is_an_issue(omop_files: tuple[Path, Path]) -> None:
    table = load_omop_drug_strength(*omop_files)
    assert any("7004" in issue and "strength differs" in issue for issue in table.issues)
    product = table.lookup("omop", "7004")
    assert product is not None
    assert product.opioid is not None
    assert product.opioid.strength == Decimal(30)


def test_omop_missing_columns_are_named(tmp_path: Path, omop_files: tuple[Path, Path]) -> None:
    bad = _csv(tmp_path / "ds.csv", ["drug_concept_id", "amount_value"], [["1", "5"]])
    with pytest.raises(UnusableInputError, match="ingredient_concept_id"):
        load_omop_drug_strength(bad, omop_files[1])


def test_conflict_is_none_when_code_and_text_agree() -> None:
    code = _product("Oxycodone 5 MG Oral Tablet")
    text = _product("OXYCODONE-ACETAMINOPHEN 5-325 MG TAB")
    assert CodeTable.conflict(code, text) is None


def test_conflict_reports_a_different_ingredient() -> None:
    reason = CodeTable.conflict(_product("Morphine 30 MG Oral Tablet"), _product("OXYCODONE HCL 30 MG TAB"))
    assert reason is not None
    assert "morphine" in reason


def test_conflict_reports_a_different_strength() -> None:
    reason = CodeTable.conflict(_product("Oxycodone 10 MG Oral Tablet"), _product("OXYCODONE HCL 5 MG TAB"))
    assert reason == "oxycodone strength differs: code 10 mg, text 5 mg"


def test_conflict_compares_mg_and_mcg_by_amount() -> None:
    code = _product("Buprenorphine 0.075 MG Buccal Film")
    text = _product("BELBUCA 75 MCG BUCCAL FILM")
    assert CodeTable.conflict(code, text) is None


def test_conflict_reports_an_opioid_in_the_text_missing_from_the_code() -> None:
    code = _product("Acetaminophen 325 MG Oral Tablet")
    reason = CodeTable.conflict(code, _product("OXYCODONE-ACETAMINOPHEN 5-325 MG TAB"))
    assert reason is not None
    assert "oxycodone" in reason


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("00000000001", "00000000001"),
        ("1234-5678-90", "01234567890"),
        ("12345-678-90", "12345067890"),
        ("12345-6789-1", "12345678901"),
        (12345678901, "12345678901"),
        ("123456789012", None),
        ("12-34", None),
        ("abc", None),
    ],
)
def test_normalise_ndc(raw: object, expected: str | None) -> None:
    assert normalise_ndc(raw) == expected
