"""Golden files: the sample prescriptions through every factor set, compared cell by cell.

A change in any factor, parser result or rule shows up here as a diff a reviewer can read. After an
intended change, regenerate with `.venv/bin/python -m tests.exposure.test_golden` and review the diff.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from taperwise.exposure.mme import EXTRA_COLUMNS, MME_COLUMNS, prescription_mme
from taperwise.exposure.prescriptions import ROW, read_prescriptions
from taperwise.knowledge.factors import available_factor_sets

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "prescriptions.csv"
GOLDEN = Path(__file__).parent / "golden"


def render(factor_set: str) -> str:
    rows = prescription_mme(read_prescriptions(SAMPLE), factor_set).order_by(ROW)
    table = rows.select(*MME_COLUMNS, *EXTRA_COLUMNS).to_pyarrow()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.column_names)
    for record in table.to_pylist():
        writer.writerow(["" if value is None else str(value) for value in record.values()])
    return out.getvalue()


@pytest.mark.parametrize("factor_set", available_factor_sets())
def test_sample_output_matches_the_reviewed_golden_file(factor_set: str):
    expected = (GOLDEN / f"mme-{factor_set}.csv").read_text(encoding="utf-8")
    actual = render(factor_set)
    assert actual.splitlines() == expected.splitlines()


if __name__ == "__main__":
    for name in available_factor_sets():
        (GOLDEN / f"mme-{name}.csv").write_text(render(name), encoding="utf-8")
        print(f"wrote {GOLDEN / f'mme-{name}.csv'}")
