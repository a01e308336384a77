"""The hazard log is only as good as its tests: every test it names must exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOG = ROOT / "docs" / "safety" / "hazard-log.md"
TEST_ID = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+))?(?:\[[^\]]*\])?`")


def hazard_rows() -> list[str]:
    return [
        line for line in LOG.read_text(encoding="utf-8").splitlines() if re.match(r"\| [A-Z]+-\d+ \|", line)
    ]


def test_every_hazard_names_at_least_one_test():
    rows = hazard_rows()
    assert rows, "the hazard log has no hazards"
    missing = [row.split("|")[1].strip() for row in rows if not TEST_ID.search(row)]
    assert missing == []


def test_hazard_ids_are_unique():
    ids = [row.split("|")[1].strip() for row in hazard_rows()]
    assert len(ids) == len(set(ids))


def test_every_named_test_exists():
    absent = []
    for row in hazard_rows():
        for path, name in TEST_ID.findall(row):
            source = ROOT / path
            if not source.is_file():
                absent.append(path)
            elif name and not re.search(
                rf"^\s*(async )?def {name}\(", source.read_text(encoding="utf-8"), re.M
            ):
                absent.append(f"{path}::{name}")
    assert absent == []
