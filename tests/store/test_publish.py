"""Publishing the real output of `taperwise registry` into the store, and superseding snapshots."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from taperwise.commands.store import publish, users_app
from taperwise.errors import UnusableInputError
from taperwise.store import Store, open_store
from taperwise.store import repositories as repo
from taperwise.store.models import (
    AuditEvent,
    Patient,
    PrescriptionRecord,
    RegistryEntry,
    RegistrySnapshot,
    TrajectorySegment,
)
from tests.store.helpers import PASSWORD, add_user, publish_example


def _count(store: Store, model: type, **where: object) -> int:
    with store.session() as s:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return s.scalar(query) or 0


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_publish_loads_every_registry_row_segment_and_prescription(
    store: Store, registry_files: dict[str, Path]
) -> None:
    snapshot_id = publish_example(store, registry_files, "ORG-A")
    registry = _csv_rows(registry_files["registry"])
    listed = {row["patient_id"] for row in registry}
    assert _count(store, RegistryEntry, snapshot_id=snapshot_id) == len(registry) == 9
    segments = [r for r in _csv_rows(registry_files["segments"]) if r["patient_id"] in listed]
    assert _count(store, TrajectorySegment, snapshot_id=snapshot_id) == len(segments)
    mme = [r for r in _csv_rows(registry_files["mme"]) if r["patient_id"] in listed]
    assert _count(store, PrescriptionRecord, snapshot_id=snapshot_id) == len(mme)
    with store.session() as s:
        snapshot = s.get_one(RegistrySnapshot, snapshot_id)
        assert str(snapshot.as_of) == "2025-03-31"
        assert snapshot.factor_set == "cdc-2022@2022.1"
        assert json.loads(snapshot.metadata_json)["patients"] == 9
        assert json.loads(snapshot.problems_json) == []
        assert {p.external_id for p in s.scalars(select(Patient))} == listed
        entry = s.scalars(select(RegistryEntry).order_by(RegistryEntry.priority)).first()
        assert entry is not None
        assert str(entry.avg_daily_mme_90d) == registry[0]["avg_daily_mme_90d"]
        audit = s.scalars(select(AuditEvent).where(AuditEvent.action == "publish")).one()
        assert audit.entity_id == str(snapshot_id)
        assert "patients=9" in audit.detail


def test_a_new_snapshot_supersedes_the_previous_one_without_deleting_it(
    store: Store, registry_files: dict[str, Path]
) -> None:
    first = publish_example(store, registry_files, "ORG-A")
    other = publish_example(store, registry_files, "ORG-B")
    second = publish_example(store, registry_files, "ORG-A")
    with store.session() as s:
        snapshots = {snap.id: snap for snap in s.scalars(select(RegistrySnapshot))}
        assert snapshots[first].superseded_at is not None
        assert snapshots[second].superseded_at is None
        assert snapshots[other].superseded_at is None, "another organisation's snapshot is left alone"
        assert repo.current_snapshots(s, [snapshots[second].organisation_id or 0]) == [second]
    assert _count(store, RegistryEntry, snapshot_id=first) == 9
    assert _count(store, RegistryEntry, snapshot_id=second) == 9
    assert _count(store, Patient) == 18, "a republished patient is the same patient"
    user = add_user(store, "dr.a", "clinician", "ORG-A")
    with store.session() as s:
        page = repo.worklist(s, user, page_size=100)
    assert page.total == 9


def test_unusable_rows_are_refused_and_listed_while_the_rest_is_published(
    store: Store, registry_files: dict[str, Path], tmp_path: Path
) -> None:
    rows = _csv_rows(registry_files["registry"])
    rows[1]["avg_daily_mme_90d"] = "lots"
    rows[2]["patient_id"] = "S\x00003"
    rows.append(dict(rows[0]))
    hostile = tmp_path / "registry.csv"
    with hostile.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with store.session() as s:
        snapshot = repo.publish_registry(
            s, hostile, registry_files["metadata"], registry_files["segments"], None, None, "ORG-A"
        )
        problems = json.loads(snapshot.problems_json)
    assert [(p["row"], p["problem"].split(" ")[0]) for p in problems] == [
        (2, "avg_daily_mme_90d"),
        (3, "patient_id"),
        (10, "patient_id"),
    ]
    assert "NUL" in problems[1]["problem"]
    assert "twice" in problems[2]["problem"]
    assert _count(store, RegistryEntry) == 9 - 2


def test_a_registry_row_with_a_field_too_many_is_refused_not_loaded_shifted(
    store: Store, registry_files: dict[str, Path], tmp_path: Path
) -> None:
    lines = registry_files["registry"].read_text(encoding="utf-8").splitlines()
    lines[4] += ",surplus"
    ragged = tmp_path / "registry.csv"
    ragged.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with store.session() as s:
        snapshot = repo.publish_registry(
            s, ragged, registry_files["metadata"], registry_files["segments"], None, None, "ORG-A"
        )
        problems = json.loads(snapshot.problems_json)
    assert [p["row"] for p in problems] == [4]
    fields = len(lines[0].split(","))
    assert problems[0]["problem"].startswith(f"input row 4 does not have the {fields} fields of the header")
    assert problems[0]["problem"].endswith("; the row was not loaded")
    assert _count(store, RegistryEntry) == 9 - 1


def test_a_missing_metadata_file_is_refused_naming_it(store: Store, registry_files: dict[str, Path]) -> None:
    missing = registry_files["registry"].with_name("nowhere.metadata.json")
    with pytest.raises(UnusableInputError, match=r"nowhere\.metadata\.json"), store.session() as s:
        repo.publish_registry(
            s, registry_files["registry"], missing, registry_files["segments"], None, None, "X"
        )


def test_mme_rows_from_other_prescriptions_are_refused(
    store: Store, registry_files: dict[str, Path], tmp_path: Path
) -> None:
    shuffled = tmp_path / "prescriptions.csv"
    lines = registry_files["prescriptions"].read_text(encoding="utf-8").splitlines()
    shuffled.write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n", encoding="utf-8")
    with pytest.raises(UnusableInputError, match="does not match"), store.session() as s:
        repo.publish_registry(
            s, registry_files["registry"], registry_files["metadata"], registry_files["segments"],
            registry_files["mme"], None, "ORG-A", prescriptions_path=shuffled,
        )  # fmt: skip


def test_publish_command_computes_prescription_rows_from_the_recorded_input(
    registry_files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(registry_files["prescriptions"].parents[1])  # the metadata's input path is relative
    url = f"sqlite:///{tmp_path / 'app.db'}"
    publish(registry_files["registry"], url, "PRACTICE-1")
    store = open_store(url)
    assert _count(store, RegistryEntry) == 9
    with store.session() as s:
        prescribers = set(s.scalars(select(PrescriptionRecord.prescriber_id)))
    assert {"DR-A", "DR-B"} <= prescribers
    store.close()


def test_users_commands_add_list_and_unlock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    runner = CliRunner()
    monkeypatch.setenv("TAPERWISE_PASSWORD", "short")
    weak = runner.invoke(users_app, ["add", "dr.x", "--role", "clinician", "--db", url])
    assert weak.exit_code == 2
    assert "12 characters" in weak.output
    monkeypatch.setenv("TAPERWISE_PASSWORD", PASSWORD)
    added = runner.invoke(
        users_app,
        [
            "add",
            "dr.x",
            "--role",
            "clinician",
            "--specialty",
            "gp",
            "--org",
            "P1",
            "--org",
            "P2",
            "--db",
            url,
        ],
    )
    assert added.exit_code == 0, added.output
    listed = runner.invoke(users_app, ["list", "--db", url])
    assert "dr.x" in listed.output
    assert "P1, P2" in listed.output
    assert "active" in listed.output
    unlocked = runner.invoke(users_app, ["unlock", "dr.x", "--db", url])
    assert unlocked.exit_code == 0
    assert runner.invoke(users_app, ["unlock", "nobody", "--db", url]).exit_code == 2


def test_a_registry_with_harm_events_publishes_every_patient_with_the_event_text(
    store: Store, tmp_path: Path
) -> None:
    from taperwise.cli import app

    sample = Path(__file__).resolve().parents[2] / "examples" / "prescriptions.csv"
    events = tmp_path / "events.csv"
    events.write_text(
        "patient_id,date,kind,code,code_system\nS001,2025-03-10,opioid_overdose,T40.2X1A,ICD10CM\n",
        encoding="utf-8",
    )
    out = tmp_path / "registry.csv"
    args = ["registry", str(sample), "--as-of", "2025-03-31", "-o", str(out), "--events", str(events)]
    assert CliRunner().invoke(app, args).exit_code == 0
    publish(out, str(store.engine.url.render_as_string(hide_password=False)), "ORG-E", prescriptions=sample)
    with store.session() as s:
        rows = s.execute(
            select(Patient.external_id, RegistryEntry.priority, RegistryEntry.last_harm_event)
            .join(Patient, Patient.id == RegistryEntry.patient_id)
            .order_by(RegistryEntry.priority)
        ).all()
    assert len(rows) == 9  # nobody is dropped because of a harm event
    assert tuple(rows[0]) == ("S001", 1, "opioid_overdose 2025-03-10")


def test_a_registry_written_before_dose_completeness_is_published_with_it_unknown(
    store: Store, registry_files: dict[str, Path], tmp_path: Path
) -> None:
    with registry_files["registry"].open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    old = tmp_path / "registry.csv"
    added = ("dose_complete", "unknown_dose_days_90d", "dose_gap")
    with old.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, [k for k in rows[0] if k not in added])
        writer.writeheader()
        writer.writerows({k: v for k, v in row.items() if k not in added} for row in rows)
    with store.session() as s:
        snapshot = repo.publish_registry(
            s, old, registry_files["metadata"], registry_files["segments"], None, None, "ORG-A"
        )
        assert json.loads(snapshot.problems_json) == []
        entries = s.scalars(select(RegistryEntry)).all()
    assert entries
    assert {e.dose_complete for e in entries} == {None}  # not computed: shown as such, never as complete
