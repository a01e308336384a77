"""`--codes`: a verified code table checks each coded row against its text; conflicts are reported."""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from taperwise.cli import app

runner = CliRunner()
HEADER = ["NDC", "PRODNME", "GENNME", "Master_Form", "Class", "Drug", "LongShortActing", "DEAClassCode",
          "Strength_Per_Unit", "UOM", "MME_Conversion_Factor"]  # fmt: skip


def cdc_workbook(path: Path) -> Path:
    # Invented NDCs (never real ones): one 10 mg oxycodone tablet product.
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Opioids"
    sheet.append(HEADER)
    product = ["00000000011", "OXY", "Oxycodone Hydrochloride", "Tablet", "Opioid", "Oxycodone"]
    sheet.append([*product, "SA", "2", 10, "MG", 1.5])
    book.save(path)
    return path


def test_a_code_that_disagrees_with_the_text_is_a_reported_conflict(tmp_path: Path):
    source = tmp_path / "rx.csv"
    source.write_text(
        "patient_id,rx_id,drug,start_date,days_supply,quantity,ndc\n"
        "p1,agree,Oxycodone Hydrochloride 10 MG Oral Tablet,2025-01-01,30,60,00000000011\n"
        "p1,conflict,Oxycodone Hydrochloride 5 MG Oral Tablet,2025-01-01,30,60,00000000011\n"
        "p1,uncoded,Oxycodone Hydrochloride 5 MG Oral Tablet,2025-01-01,30,60,\n",
        encoding="utf-8",
    )
    out = tmp_path / "mme.csv"
    args = ["mme", str(source), "-o", str(out), "--codes", str(cdc_workbook(tmp_path / "cdc.xlsx"))]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8") as handle:
        rows = {r["rx_id"]: r for r in csv.DictReader(handle)}
    assert rows["agree"]["status"] == "ok"
    assert rows["agree"]["daily_mme"] == "30.0000"
    assert rows["conflict"]["status"] == "unrecognized"
    assert "conflict between ndc 00000000011 and the text" in rows["conflict"]["reason"]
    assert "oxycodone strength differs" in rows["conflict"]["reason"]
    assert rows["uncoded"]["status"] == "ok"


def test_codes_are_ignored_without_a_table(tmp_path: Path):
    source = tmp_path / "rx.csv"
    source.write_text(
        "patient_id,rx_id,drug,start_date,days_supply,quantity,ndc\n"
        "p1,a,Oxycodone Hydrochloride 5 MG Oral Tablet,2025-01-01,30,60,00000000011\n",
        encoding="utf-8",
    )
    out = tmp_path / "mme.csv"
    assert runner.invoke(app, ["mme", str(source), "-o", str(out)]).exit_code == 0
    with out.open(encoding="utf-8") as handle:
        assert next(csv.DictReader(handle))["status"] == "ok"


def test_the_store_shows_the_per_row_mme_the_registry_computed_with_codes(tmp_path: Path):
    """Compute once: `registry --publish` stores the registry's own per-row results (with --codes), so the
    patient page never contradicts the worklist; publishing again from files checks it is the same data."""
    from sqlalchemy import select

    from taperwise.commands.store import publish
    from taperwise.errors import UnusableInputError
    from taperwise.store import open_store
    from taperwise.store.models import PrescriptionRecord

    source = tmp_path / "rx.csv"
    source.write_text(
        "patient_id,rx_id,drug,start_date,days_supply,quantity,ndc\n"
        "p1,agree,Oxycodone Hydrochloride 10 MG Oral Tablet,2025-01-01,30,60,00000000011\n"
        "p1,conflict,Oxycodone Hydrochloride 5 MG Oral Tablet,2025-01-01,30,60,00000000011\n",
        encoding="utf-8",
    )
    codes = cdc_workbook(tmp_path / "cdc.xlsx")
    url = f"sqlite:///{tmp_path / 'app.db'}"
    out = tmp_path / "registry.csv"
    args = ["registry", str(source), "--as-of", "2025-01-20", "-o", str(out), "--codes", str(codes),
            "--publish", "--db", url, "--org", "ORG-C"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    store = open_store(url)
    with store.session() as s:
        stored = {
            r.rx_id: r.status for r in s.execute(select(PrescriptionRecord.rx_id, PrescriptionRecord.status))
        }
    store.close()
    assert stored == {"agree": "ok", "conflict": "unrecognized"}  # as the registry counted them

    # publishing again from the files: the code table is the one recorded, so the same rows result
    publish(out, f"sqlite:///{tmp_path / 'again.db'}", "ORG-C", prescriptions=source)
    # a changed prescriptions file is refused, never published beside a registry it did not give
    changed = tmp_path / "changed.csv"
    changed.write_text(source.read_text(encoding="utf-8").replace("30,60", "30,120"), encoding="utf-8")
    with pytest.raises(UnusableInputError, match="SHA-256 differs"):
        publish(out, f"sqlite:///{tmp_path / 'third.db'}", "ORG-C", prescriptions=changed)
