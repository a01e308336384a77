"""A date outside the plausible range never reaches the store (issue 11, item 11).

The exposure engine never writes one (tests/exposure/test_plausible.py); a segment or prescription row
that arrives by another route — a hand-edited file — refuses the whole publication, naming the file and
the row, and nothing of it is stored. The range is the one the registry's metadata records.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from taperwise.errors import UnusableInputError
from taperwise.store import Store
from taperwise.store import repositories as repo
from taperwise.store.models import RegistrySnapshot, TrajectorySegment


def _edited(source: Path, target: Path, row: int, column: str, value: str) -> Path:
    with source.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    rows[row][column] = value
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return target


def _snapshots(store: Store) -> int:
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(RegistrySnapshot)) or 0


@pytest.mark.parametrize(
    ("column", "value", "words"),
    [
        ("end_date", "10000-01-01", "end_date 10000-01-01 is after the latest plausible date"),
        ("end_date", "9999-12-31", "end_date 9999-12-31 is after the latest plausible date"),
        (
            "start_date",
            "1850-03-01",
            "start_date 1850-03-01 is before the earliest plausible date (1900-01-01)",
        ),
    ],
)
def test_a_segment_dated_outside_the_range_refuses_the_publication_naming_the_row(
    store: Store, registry_files: dict[str, Path], tmp_path: Path, column: str, value: str, words: str
) -> None:
    registry = shutil.copy(registry_files["registry"], tmp_path / "registry.csv")
    metadata = shutil.copy(registry_files["metadata"], tmp_path / "registry.metadata.json")
    segments = _edited(registry_files["segments"], tmp_path / "registry.segments.csv", 2, column, value)
    with pytest.raises(UnusableInputError) as refused, store.session() as s:
        repo.publish_registry(s, Path(registry), Path(metadata), segments, None, None, "ORG-A")
    message = str(refused.value)
    assert message.startswith(f"{segments}: row 3 (patient_id ")
    assert words in message
    assert "nothing was published" in message
    assert _snapshots(store) == 0
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(TrajectorySegment)) == 0


def test_a_prescription_row_dated_outside_the_range_refuses_the_publication(
    store: Store, registry_files: dict[str, Path], tmp_path: Path
) -> None:
    listed = {row["patient_id"] for row in csv.DictReader(registry_files["registry"].open(encoding="utf-8"))}
    rows = list(csv.DictReader(registry_files["mme"].open(encoding="utf-8")))
    row = next(n for n, r in enumerate(rows) if r["patient_id"] in listed and r["start_date"])
    mme = _edited(registry_files["mme"], tmp_path / "mme.csv", row, "start_date", "0999-01-01")
    with (
        pytest.raises(UnusableInputError, match=r"rx_id .*start_date 0999-01-01 is before"),
        store.session() as s,
    ):
        repo.publish_registry(
            s, registry_files["registry"], registry_files["metadata"], registry_files["segments"], mme,
            None, "ORG-A",
        )  # fmt: skip
    assert _snapshots(store) == 0


def test_the_range_is_the_one_the_metadata_records(
    store: Store, registry_files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    metadata = json.loads(registry_files["metadata"].read_text(encoding="utf-8"))
    assert set(metadata["plausible_dates"]) == {"earliest", "latest"}
    # a narrower range recorded: the example's segments (2024-2025) fall outside it
    metadata["plausible_dates"] = {"earliest": "1900-01-01", "latest": "2024-12-31"}
    narrowed = tmp_path / "registry.metadata.json"
    narrowed.write_text(json.dumps(metadata), encoding="utf-8")
    monkeypatch.delenv("TAPERWISE_LATEST_DATE", raising=False)  # the environment's range would admit them
    refused = pytest.raises(UnusableInputError, match=r"after the latest plausible date \(2024-12-31\)")
    with refused, store.session() as s:
        repo.publish_registry(
            s, registry_files["registry"], narrowed, registry_files["segments"], None, None, "ORG-A"
        )
    # recorded as it was: the same files publish
    with store.session() as s:
        repo.publish_registry(
            s, registry_files["registry"], registry_files["metadata"], registry_files["segments"], None,
            None, "ORG-A",
        )  # fmt: skip
    assert _snapshots(store) == 1


def test_a_number_too_large_for_the_store_is_a_refused_row_never_a_crash(
    store: Store, registry_files: dict[str, Path], tmp_path: Path
) -> None:
    # Decimal('1e32').quantize(...) raised InvalidOperation and stopped the publication with a traceback
    registry = _edited(registry_files["registry"], tmp_path / "registry.csv", 1, "avg_daily_mme_90d", "1e32")
    registry = _edited(registry, tmp_path / "registry2.csv", 2, "days_covered_90d", "1e20")
    with store.session() as s:
        snapshot = repo.publish_registry(
            s, registry, registry_files["metadata"], registry_files["segments"], None, None, "ORG-A"
        )
        problems = json.loads(snapshot.problems_json)
    assert [(p["row"], p["problem"]) for p in problems] == [
        (2, "avg_daily_mme_90d '1e32' is out of range (below 1e+14); the row was not loaded"),
        (3, "days_covered_90d '1e20' is out of range (at most 2147483647); the row was not loaded"),
    ]
    assert _snapshots(store) == 1
