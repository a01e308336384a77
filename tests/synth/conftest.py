"""Small synthetic populations shared by the synth tests (generated once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from taperwise.synth.generator import SynthOptions
from taperwise.synth.run import SynthSummary, synthesize

PATIENTS = 1500
SEED = 11


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("synth")


def _make(root: Path, format: str, name: str, seed: int = SEED) -> tuple[Path, SynthSummary]:
    output = root / name
    return output, synthesize(SynthOptions(patients=PATIENTS, seed=seed), format, output)


@pytest.fixture(scope="session")
def canonical_csv(synth_root: Path) -> tuple[Path, SynthSummary]:
    return _make(synth_root, "csv", "csv/rx.csv")


@pytest.fixture(scope="session")
def fhir_folder(synth_root: Path) -> tuple[Path, SynthSummary]:
    return _make(synth_root, "fhir", "fhir")


@pytest.fixture(scope="session")
def omop_folder(synth_root: Path) -> tuple[Path, SynthSummary]:
    return _make(synth_root, "omop", "omop")
