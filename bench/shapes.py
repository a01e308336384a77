"""The shapes of prescribing data `make bench` measures on, each made from the same synthetic export.

- ``dense``: `taperwise synth` as it is (about 10 fills per patient over three years, ~150 product texts).
- ``sparse``: many patients with few fills each, spread over five years — each synthetic patient split in
  four by a hash of the prescription id, and each start date moved back by up to four years.
- ``products``: thousands of distinct product texts, as real exports have: each text written in the
  spellings pharmacy systems use (upper, lower and title case, a space or none before the unit, doubled
  spaces), every spelling checked to read as the same product, and each row given one by a hash of its id.
- ``codes``: the dense file with an NDC on every opioid row and a code table for them, run with
  ``--codes``: a CDC NDC/MME workbook (`codes_path`) with one row per opioid product, the NDCs invented
  (labeler 00000, which no manufacturer holds), so each coded row is checked against its text.

The transformations are deterministic (DuckDB's hash of the id), so a size and shape always give the
same file. Nothing is dropped: every shape has the rows of the dense file.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pyarrow as pa

from taperwise.knowledge.model import Product
from taperwise.knowledge.parser import parse_product

SHAPES = ("dense", "sparse", "products", "codes")
CDC_HEADER = ("NDC", "PRODNME", "GENNME", "Master_Form", "LongShortActing", "Strength_Per_Unit", "UOM")
SPARSE_SPLIT = 4
SPARSE_SHIFT_DAYS = 4 * 365


def _spellings(text: str) -> list[str]:
    """`text` as other systems write it, each kept only when it reads as the same product."""
    wanted = _reading(text)
    glued = re.sub(r"(\d) (MG|MCG|mg|mcg|ML|mL)\b", r"\1\2", text)
    spaced = re.sub(r"(\d)(MG|MCG|mg|mcg)\b", r"\1 \2", text)
    variants: list[str] = []
    for base in dict.fromkeys([text, glued, spaced]):
        for cased in (base, base.upper(), base.lower(), base.title()):
            for spacing in (cased, cased.replace(" ", "  ", 1), cased.replace(" ", "  ")):
                variants.append(spacing)
    return [v for v in dict.fromkeys(variants) if v == text or _reading(v) == wanted]


def _reading(text: str) -> object:
    """What taperwise counts of a product text: everything the parser read but the text and its style."""
    parsed = parse_product(text)
    return (parsed.ingredients, parsed.dose_form, parsed.route, parsed.release, parsed.wear_hours,
            parsed.cough_cold, parsed.notes) if isinstance(parsed, Product) else None  # fmt: skip


def make_shape(shape: str, dense: Path, out: Path) -> Path:
    """The `shape` of the dense synthetic file `dense`, written to `out` (Parquet); `dense` for dense."""
    if shape == "dense":
        return dense
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    source = f"read_parquet('{dense}')"
    if shape == "sparse":
        select = (
            f"SELECT * REPLACE (patient_id || '-' || CAST(hash(rx_id) % {SPARSE_SPLIT} AS VARCHAR) AS "
            f"patient_id, CAST(CAST(start_date AS DATE) - CAST(hash(rx_id || 'd') % {SPARSE_SHIFT_DAYS} "
            f"AS INTEGER) AS VARCHAR) AS start_date) FROM {source}"
        )
    elif shape == "products":
        drugs = [d for (d,) in con.execute(f"SELECT DISTINCT drug FROM {source}").fetchall() if d]
        rows = [
            {"drug": drug, "k": k, "spelling": spelling, "n": len(spellings)}
            for drug in drugs
            for spellings in [_spellings(drug)]
            for k, spelling in enumerate(spellings)
        ]
        con.register("spellings", pa.Table.from_pylist(rows))
        select = (
            f"SELECT rx.* REPLACE (coalesce(s.spelling, rx.drug) AS drug) FROM {source} rx "
            "LEFT JOIN (SELECT drug, max(n) AS n FROM spellings GROUP BY drug) c ON rx.drug = c.drug "
            "LEFT JOIN spellings s ON s.drug = rx.drug AND s.k = hash(rx.rx_id || 'p') % c.n"
        )
    elif shape == "codes":
        drugs = [d for (d,) in con.execute(f"SELECT DISTINCT drug FROM {source}").fetchall() if d]
        coded = _code_table(drugs, codes_path(out))
        con.register("coded", pa.Table.from_pylist([{"drug": d, "code": c} for d, c in coded.items()]))
        select = (
            f"SELECT rx.* REPLACE (coalesce(c.code, rx.ndc) AS ndc) FROM {source} rx "
            "LEFT JOIN coded c ON rx.drug = c.drug"
        )
    else:
        raise ValueError(f"unknown shape {shape!r}; one of {', '.join(SHAPES)}")
    con.execute(f"COPY ({select}) TO '{out}' (FORMAT parquet)")
    return out


def codes_path(source: Path) -> Path:
    """Where the ``codes`` shape keeps its code table: beside the prescriptions (``X.codes.xlsx``)."""
    return source.with_suffix(".codes.xlsx")


def _code_table(drugs: list[str], path: Path) -> dict[str, str]:
    """A CDC NDC/MME workbook at `path` with an invented NDC per opioid product text; text → NDC."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Opioids"
    sheet.append(list(CDC_HEADER))
    coded: dict[str, str] = {}
    for drug in sorted(drugs):
        parsed = parse_product(drug)
        if not isinstance(parsed, Product) or parsed.opioid is None or len(parsed.ingredients) != 1:
            continue  # the CDC file lists single-opioid products by strength of the opioid
        main = parsed.opioid
        ndc = f"00000{len(coded) + 1:06d}"
        acting = "LA" if parsed.release.value != "IR" else "SA"
        form = parsed.dose_form.title()
        sheet.append([ndc, drug, main.ingredient, form, acting, float(main.strength), main.unit.upper()])
        coded[drug] = ndc
    book.save(path)
    return coded


def describe(path: Path) -> tuple[int, int, int]:
    """(prescriptions, patients, distinct product texts) of a file."""
    con = duckdb.connect()
    row = con.execute(
        f"SELECT count(*), count(DISTINCT patient_id), count(DISTINCT drug) FROM read_parquet('{path}')"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])
