"""Product codes -> products, from verified terminology files, and the code/text conflict check.

A product code (NDC, RxCUI, OMOP concept id) is trusted only when it comes from a file a data manager
supplied — the CDC "Opioid NDC and Oral MME Conversion File" workbook, or an OMOP vocabulary export
(``drug_strength`` + ``concept``) — never from memory. Loaders never drop a row silently: a row that
cannot be read is kept in ``CodeTable.issues`` with its row number and reason. When a prescription's
code and its text disagree on ingredient or strength, `CodeTable.conflict` says how, and the row is
reported as a conflict rather than resolved (clinical-rules §1).

Both loaders reuse the text parser for dose form, route and release, so one set of vocabulary rules
decides what "Tablet, Extended Release" or "Transdermal System" means.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from taperwise.errors import UnusableInputError
from taperwise.knowledge.model import DrugClass, IngredientStrength, ParseFailure, Product
from taperwise.knowledge.parser import parse_product
from taperwise.knowledge.reading import ProductTextError
from taperwise.knowledge.strengths import Amount, normalise
from taperwise.knowledge.vocabulary import load_vocabulary, phrase_key

CDC_REQUIRED = ("ndc", "gennme", "master_form", "strength_per_unit", "uom")
CDC_SHEET = "Opioids"
OMOP_CONCEPT_REQUIRED = ("concept_id", "concept_name", "vocabulary_id", "concept_code")
OMOP_STRENGTH_REQUIRED = (
    "drug_concept_id", "ingredient_concept_id", "amount_value", "amount_unit_concept_id", "numerator_value",
    "numerator_unit_concept_id", "denominator_value", "denominator_unit_concept_id",
)  # fmt: skip
# UCUM codes as OMOP's unit concepts spell them; the concept ids are read from the supplied concept file.
_UCUM_UNITS = {"mg": "mg", "ug": "mcg", "g": "g", "ml": "ml", "h": "hr", "{actuat}": "unit"}
_TO_MCG = {"mg": Decimal(1000), "mcg": Decimal(1)}


def normalise_ndc(code: object) -> str | None:
    """An NDC as 11 digits (5-4-2), or None when it cannot be one. Hyphenated 10-digit forms are padded
    segment by segment; bare numbers (an Excel cell that lost its leading zeros) are left-padded."""
    text = str(code).strip()
    if text.endswith(".0"):
        text = text[:-2]
    if "-" in text:
        parts = text.split("-")
        widths = (5, 4, 2)
        if len(parts) != 3 or not all(
            p.isdigit() and 0 < len(p) <= w for p, w in zip(parts, widths, strict=True)
        ):
            return None
        return "".join(part.zfill(width) for part, width in zip(parts, widths, strict=True))
    if not text.isdigit() or len(text) > 11:
        return None
    return text.zfill(11)


def _comparable(item: IngredientStrength) -> tuple[Decimal, str]:
    """Strength in micrograms per basis, so 0.1 mg and 100 mcg compare equal."""
    mass, _, basis = item.unit.partition("/")
    return item.strength * _TO_MCG[mass], basis


@dataclass(frozen=True)
class CodeTable:
    """Products keyed by (system, code); systems are "ndc", "rxnorm" and "omop"."""

    source: str
    products: Mapping[tuple[str, str], Product]
    issues: tuple[str, ...] = field(default=())

    def lookup(self, system: str, code: str) -> Product | None:
        system = system.lower()
        key = normalise_ndc(code) if system == "ndc" else str(code).strip()
        return self.products.get((system, key)) if key else None

    def __len__(self) -> int:
        return len(self.products)

    @staticmethod
    def conflict(product_from_code: Product, product_from_text: Product) -> str | None:
        """Why code and text disagree on ingredient or strength, or None when they agree.

        Every ingredient the code names must be in the text at the same strength; every opioid,
        buprenorphine or benzodiazepine the text names must be in the code product. (The CDC file
        describes the opioid only, so a text's paracetamol is not a conflict.)
        """
        text_items = {item.ingredient: item for item in product_from_text.ingredients}
        code_names = {item.ingredient for item in product_from_code.ingredients}
        for item in product_from_code.ingredients:
            other = text_items.get(item.ingredient)
            if other is None:
                named = ", ".join(text_items) or "nothing"
                return f"code product contains {item.ingredient}; the text names {named}"
            if _comparable(item) != _comparable(other):
                return (
                    f"{item.ingredient} strength differs: code {item.strength} {item.unit}, "
                    f"text {other.strength} {other.unit}"
                )
        for item in product_from_text.ingredients:
            if item.drug_class is not DrugClass.OTHER and item.ingredient not in code_names:
                return f"text names {item.ingredient}; the code product does not contain it"
        return None


def _header_key(name: object) -> str:
    return "_".join(str(name or "").strip().lower().replace("_", " ").split())


def _principal_ingredient(*names: str) -> str | None:
    """The one non-OTHER ingredient named in any of these texts (CDC 'Drug', then 'GENNME')."""
    vocabulary = load_vocabulary()
    for text in names:
        found = {
            name
            for name in vocabulary.ingredients_in(text)
            if vocabulary.ingredients[name].drug_class is not DrugClass.OTHER
        }
        if len(found) == 1:
            return found.pop()
    return None


def _brand_route(product_name: str) -> str:
    """The route word to add to a film's text when the CDC row's product name is a brand that says it
    (BELBUCA: buccal, SUBOXONE: sublingual); Master_Form "Film" does not, and it is never assumed."""
    vocabulary = load_vocabulary()
    hit = vocabulary.match(list(phrase_key(product_name)), 0)
    if hit is None or hit[0].brand is None or hit[0].brand.route is None:
        return ""
    return f" {hit[0].brand.route.value}"


def _cdc_rows(path: Path, sheet: str | None) -> Iterator[tuple[int, dict[str, str]]]:
    import openpyxl  # heavy, and only this loader needs it

    if not path.is_file():
        raise UnusableInputError(f"CDC NDC/MME file {path} does not exist")
    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        names = workbook.sheetnames
        chosen = sheet or (CDC_SHEET if CDC_SHEET in names else names[0])
        if chosen not in names:
            raise UnusableInputError(f"{path.name}: no sheet {chosen!r}; sheets are {', '.join(names)}")
        rows = workbook[chosen].iter_rows(values_only=True)
        header = [_header_key(cell) for cell in next(rows, ())]
        missing = [column for column in CDC_REQUIRED if column not in header]
        if missing:
            raise UnusableInputError(
                f"{path.name}, sheet {chosen!r}: missing column(s) {', '.join(missing)} "
                f"(found: {', '.join(h for h in header if h) or 'no header'})"
            )
        for number, values in enumerate(rows, start=2):
            if not any(value not in (None, "") for value in values):
                continue
            cells = {
                key: "" if value is None else str(value).strip()
                for key, value in zip(header, values, strict=False)
            }
            yield number, cells
    finally:
        workbook.close()


def load_cdc_ndc_file(path: Path, sheet: str | None = None) -> CodeTable:
    """Read the CDC Opioid NDC and Oral MME Conversion File (sheet "Opioids" by default).

    Each row becomes a one-ingredient product (the file gives the opioid's strength only) keyed by
    ("ndc", 11-digit NDC). Raises UnusableInputError naming missing columns.
    """
    products: dict[tuple[str, str], Product] = {}
    issues: list[str] = []
    for number, row in _cdc_rows(Path(path), sheet):
        where = f"row {number} (NDC {row.get('ndc', '')!r})"
        ndc = normalise_ndc(row["ndc"])
        ingredient = _principal_ingredient(row.get("drug", ""), row["gennme"])
        if ndc is None or ingredient is None:
            issues.append(f"{where}: {'NDC is not 11 digits' if ndc is None else 'no known opioid named'}")
            continue
        release = " ER" if row.get("longshortacting", "").upper() == "LA" else ""
        route = _brand_route(row.get("prodnme", "")) if "film" in row["master_form"].lower() else ""
        text = f"{ingredient} {row['strength_per_unit']} {row['uom']} {row['master_form']}{release}{route}"
        parsed = parse_product(text)
        if isinstance(parsed, ParseFailure):
            issues.append(f"{where}: {parsed.reason}")
            continue
        note = f"CDC NDC/MME file: {row.get('prodnme') or row['gennme']}"
        products[("ndc", ndc)] = dataclasses.replace(parsed, notes=(*parsed.notes, note))
    return CodeTable(source=str(path), products=products, issues=tuple(issues))


def _read_table(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.is_file():
        raise UnusableInputError(f"OMOP file {path} does not exist")
    with path.open(encoding="utf-8", newline="") as handle:
        first = handle.readline()
        handle.seek(0)
        # Athena exports are tab-separated; hand-made extracts are usually comma-separated.
        reader = csv.DictReader(handle, delimiter="\t" if "\t" in first else ",")
        fields = [_header_key(name) for name in reader.fieldnames or []]
        missing = [column for column in required if column not in fields]
        if missing:
            raise UnusableInputError(f"{path.name}: missing column(s) {', '.join(missing)}")
        return [{_header_key(k): (v or "").strip() for k, v in row.items()} for row in reader]


def _omop_amount(row: dict[str, str], units: Mapping[str, str]) -> Amount:
    def unit(column: str) -> str | None:
        return _UCUM_UNITS.get(units.get(row[column], "").lower())

    try:
        if row["amount_value"]:
            return Amount(Decimal(row["amount_value"]), unit("amount_unit_concept_id"))
        denominator = Decimal(row["denominator_value"]) if row["denominator_value"] else Decimal(1)
        per_unit = unit("denominator_unit_concept_id")
        if per_unit not in ("ml", "hr", "unit"):
            raise ProductTextError(f"denominator unit concept {row['denominator_unit_concept_id']} unknown")
        return Amount(
            Decimal(row["numerator_value"]), unit("numerator_unit_concept_id"), denominator, per_unit
        )
    except InvalidOperation as exc:
        raise ProductTextError(f"a strength value is not a number ({exc})") from exc


def load_omop_drug_strength(drug_strength_path: Path, concept_path: Path) -> CodeTable:
    """Read OMOP ``drug_strength`` with its ``concept`` table into products keyed by ("omop", concept_id)
    and, for RxNorm concepts, ("rxnorm", RxCUI).

    Strengths come from drug_strength (amount, or numerator/denominator for liquids and patches);
    dose form, route and release come from parsing the drug concept's name. A name whose own strength
    disagrees with drug_strength is listed in ``issues``; drug_strength wins in the table.
    """
    concepts = {row["concept_id"]: row for row in _read_table(Path(concept_path), OMOP_CONCEPT_REQUIRED)}
    units = {cid: row["concept_code"] for cid, row in concepts.items()}
    vocabulary = load_vocabulary()
    by_drug: dict[str, list[dict[str, str]]] = {}
    for row in _read_table(Path(drug_strength_path), OMOP_STRENGTH_REQUIRED):
        by_drug.setdefault(row["drug_concept_id"], []).append(row)
    products: dict[tuple[str, str], Product] = {}
    issues: list[str] = []
    for drug_id, rows in by_drug.items():
        concept = concepts.get(drug_id)
        where = f"drug concept {drug_id}"
        if concept is None:
            issues.append(f"{where}: not in {Path(concept_path).name}")
            continue
        named = parse_product(concept["concept_name"])
        if isinstance(named, ParseFailure):
            issues.append(f"{where} ({concept['concept_name']}): {named.reason}")
            continue
        try:
            items = []
            for row in rows:
                ingredient_name = concepts.get(row["ingredient_concept_id"], {}).get("concept_name", "")
                ingredient = vocabulary.ingredient_named(ingredient_name)
                if ingredient is None:
                    raise ProductTextError(f"unknown ingredient concept {row['ingredient_concept_id']}")
                known = vocabulary.ingredients[ingredient]
                strength = normalise(_omop_amount(row, units), known)
                items.append(IngredientStrength(ingredient, strength.value, strength.unit, known.drug_class))
        except ProductTextError as exc:
            issues.append(f"{where} ({concept['concept_name']}): {exc}")
            continue
        product = dataclasses.replace(named, ingredients=tuple(items))
        disagreement = CodeTable.conflict(product, named)
        if disagreement:
            issues.append(
                f"{where} ({concept['concept_name']}): name and drug_strength disagree: {disagreement}"
            )
        products[("omop", drug_id)] = product
        if concept["vocabulary_id"] == "RxNorm":
            products[("rxnorm", concept["concept_code"])] = product
    return CodeTable(source=f"{drug_strength_path} + {concept_path}", products=products, issues=tuple(issues))
