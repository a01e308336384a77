"""`taperwise registry` writes the worklist, its metadata and the segments, with the definitions used."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from typer.testing import CliRunner

from taperwise.cli import app

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "prescriptions.csv"
runner = CliRunner()


def test_registry_writes_contract_columns_metadata_and_segments(tmp_path: Path):
    out = tmp_path / "registry.csv"
    result = runner.invoke(app, ["registry", str(SAMPLE), "--as-of", "2025-03-31", "-o", str(out)])
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    contract = [
        "patient_id",
        "avg_daily_mme_90d",
        "max_daily_mme_90d",
        "days_covered_90d",
        "ltot",
        "high_dose_50",
        "high_dose_90",
        "benzo_overlap_days_90d",
        "prescribers_180d",
        "pharmacies_180d",
        "multi_provider",
        "new_prescriber",
        "buprenorphine_days_90d",
        "priority",
        "priority_reason",
    ]
    assert list(rows[0])[: len(contract)] == contract
    assert [int(r["priority"]) for r in rows] == sorted(int(r["priority"]) for r in rows)
    metadata = json.loads((tmp_path / "registry.metadata.json").read_text(encoding="utf-8"))
    assert metadata["as_of"] == "2025-03-31"
    assert metadata["windows"]["lookback"] == ["2024-10-03", "2025-03-31"]
    assert metadata["windows"]["recent"] == ["2025-01-01", "2025-03-31"]
    assert metadata["factor_set"]["id"] == "cdc-2022"
    assert metadata["engine"] == "duckdb"
    assert metadata["early_refills"]["rule"] == "add"  # the published definitions' rule, named
    assert metadata["definitions"]["ltot_definition"] == "60-of-90"
    assert metadata["priority_rules"][0]["rule_id"] == "P-OVERDOSE"
    assert metadata["patients"] == len(rows)
    assert (
        (tmp_path / "registry.segments.csv")
        .read_text(encoding="utf-8")
        .startswith('"patient_id","start_date"')
    )


def test_registry_shows_harm_events_when_given(tmp_path: Path):
    events = tmp_path / "events.csv"
    events.write_text(
        "patient_id,date,kind,code,code_system\nS002,2025-03-01,emergency_visit,EMER,v3-ActCode\n",
        encoding="utf-8",
    )
    out = tmp_path / "registry.csv"
    args = ["registry", str(SAMPLE), "--as-of", "2025-03-31", "-o", str(out), "--events", str(events)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8") as handle:
        rows = {r["patient_id"]: r for r in csv.DictReader(handle)}
    assert rows["S002"]["harm_events_180d"] == "1"
    assert rows["S002"]["last_harm_event"] == "emergency_visit 2025-03-01"


def test_registry_refuses_an_unknown_ltot_definition(tmp_path: Path):
    args = [
        "registry",
        str(SAMPLE),
        "--as-of",
        "2025-03-31",
        "-o",
        str(tmp_path / "r.csv"),
        "--ltot",
        "1-of-2",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "unknown LTOT definition" in result.output


def test_event_rows_the_registry_cannot_place_are_counted_not_dropped_silently(tmp_path: Path):
    events = tmp_path / "events.csv"
    events.write_text(
        "patient_id,date,kind,code,code_system\n"
        "S002,2025-03-01,emergency_visit,EMER,ActCode\n"
        "S002,03/02/2025,opioid_overdose,T40.2X1A,ICD10CM\n"
        ",2025-03-03,emergency_visit,EMER,ActCode\n"
        "S003,2025-03-04,fall,W19,ICD10CM\n"
        "S002,2025-03-05,opioid_overdose,T40.2X1A,ICD10CM,extra\n",  # a field too many: not placed
        encoding="utf-8",
    )
    out = tmp_path / "registry.csv"
    args = ["registry", str(SAMPLE), "--as-of", "2025-03-31", "-o", str(out), "--events", str(events)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # Rich wraps long lines
    assert "1 event row(s) not used: date not YYYY-MM-DD" in said
    assert "1 event row(s) not used: no patient_id" in said
    metadata = json.loads((tmp_path / "registry.metadata.json").read_text(encoding="utf-8"))
    not_used = metadata["events"]["rows_not_used"]
    assert not_used["date not YYYY-MM-DD"] == 1
    assert not_used["no patient_id"] == 1
    assert not_used["fields not those of the header (values may be shifted)"] == 1
    assert sum(not_used.values()) == 4  # the unknown kind 'fall' too
    listed = {row["patient_id"]: row for row in csv.DictReader(out.open(encoding="utf-8"))}
    assert listed["S002"]["opioid_overdose_180d"] == "0"  # neither the misdated nor the ragged overdose


def test_the_registry_metadata_carries_the_ingests_assumptions_on(tmp_path: Path):
    source = tmp_path / "rx.csv"
    source.write_bytes(SAMPLE.read_bytes())
    (tmp_path / "rx.ingest.json").write_text(
        json.dumps({
            "reader": "fhir",
            "options": {"assume_order_days": 30},
            "assumptions": [{"option": "--assume-order-days", "days": 30, "rows": 4}],
        }),
        encoding="utf-8",
    )  # fmt: skip
    out = tmp_path / "registry.csv"
    result = runner.invoke(app, ["registry", str(source), "--as-of", "2025-03-31", "-o", str(out)])
    assert result.exit_code == 0, result.output
    metadata = json.loads((tmp_path / "registry.metadata.json").read_text(encoding="utf-8"))
    assert metadata["ingest"]["options"] == {"assume_order_days": 30}
    assert metadata["ingest"]["assumptions"][0]["rows"] == 4
    (tmp_path / "rx.ingest.json").write_bytes(b"\xff not json")
    assert (
        runner.invoke(app, ["registry", str(source), "--as-of", "2025-03-31", "-o", str(out)]).exit_code == 0
    )
    metadata = json.loads((tmp_path / "registry.metadata.json").read_text(encoding="utf-8"))
    assert "unreadable" in metadata["ingest"]
    (tmp_path / "rx.ingest.json").unlink()
    assert (
        runner.invoke(app, ["registry", str(source), "--as-of", "2025-03-31", "-o", str(out)]).exit_code == 0
    )
    assert json.loads((tmp_path / "registry.metadata.json").read_text(encoding="utf-8"))["ingest"] is None
