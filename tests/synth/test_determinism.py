"""Same seed, same bytes — in every format; another seed, other data."""

from __future__ import annotations

from pathlib import Path

import pytest

from taperwise.synth.generator import SynthOptions
from taperwise.synth.run import synthesize


def _files(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.mark.parametrize(
    ("format", "name"), [("csv", "rx.csv"), ("csv", "rx.parquet"), ("fhir", "out"), ("omop", "out")]
)
def test_same_seed_gives_byte_identical_output(tmp_path: Path, format: str, name: str) -> None:
    options = SynthOptions(patients=300, seed=5)
    synthesize(options, format, tmp_path / "a" / name)
    synthesize(options, format, tmp_path / "b" / name)
    first, second = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert first.keys() == second.keys()
    assert len(first) >= 3
    for name_, content in first.items():
        assert content == second[name_], name_


def test_another_seed_gives_other_prescriptions(tmp_path: Path) -> None:
    synthesize(SynthOptions(patients=300, seed=5), "csv", tmp_path / "a.csv")
    synthesize(SynthOptions(patients=300, seed=6), "csv", tmp_path / "b.csv")
    assert (tmp_path / "a.csv").read_bytes() != (tmp_path / "b.csv").read_bytes()
