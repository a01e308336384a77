"""The rules are data with sources, and the JSON Schemas in docs/ validate what the engine reads and writes.

Every plan built anywhere in tests/taper is also validated by the package fixture in conftest.py; the
tests here prove that check is live and can fail, and validate the documented examples.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from taperwise.errors import RequestValidationError
from taperwise.knowledge.factors import available_factor_sets
from taperwise.taper import adapt_plan, plan_taper
from taperwise.taper.rules import load_rules
from tests.taper.builders import MONTHLY_10, OXYCODONE_IR, fentanyl, liquid, morphine_er, request
from tests.taper.schemas import assert_valid, load_schema, schema_errors

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _doc_examples() -> list[dict[str, Any]]:
    text = (DOCS / "taper.md").read_text(encoding="utf-8")
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, flags=re.DOTALL)]


def test_every_rule_warning_and_decision_cites_a_known_source() -> None:
    rules = load_rules()  # raises KnowledgeError on an unknown source id
    assert rules.version
    assert all(w.source_id in rules.sources for w in rules.warnings.values())
    assert all(row["source"] in rules.sources for row in rules.decisions["rows"])
    assert all(b.source_id in rules.sources for b in rules.bottles)
    assert rules.decisions["rows"][-1]["when"] == {"always": True}


def test_every_plan_built_in_the_suite_is_validated(every_plan_matches_its_schema: dict[str, int]) -> None:
    before = dict(every_plan_matches_its_schema)
    plan = plan_taper(request(morphine_er(), fentanyl(25), pace=MONTHLY_10))
    adapt_plan(plan, {"date": "2025-02-03", "preference": "pause"})
    after = every_plan_matches_its_schema
    assert after["plans"] >= before["plans"] + 2
    assert after["requests"] > before["requests"]
    assert after["follow_ups"] > before["follow_ups"]


def test_the_strict_plan_schema_catches_an_undocumented_or_missing_field() -> None:
    plan = plan_taper(request(liquid(), pace=MONTHLY_10)).to_dict()
    assert_valid("taper-plan", plan, strict=True)
    extra = copy.deepcopy(plan)
    extra["steps"][0]["administrations"][0]["undocumented"] = 1
    assert schema_errors("taper-plan", extra, strict=True)
    assert not schema_errors("taper-plan", extra)  # the published schema stays open to added fields
    missing = copy.deepcopy(plan)
    del missing["steps"][0]["changes"]
    assert schema_errors("taper-plan", missing)


def test_the_documented_examples_are_valid_and_accepted() -> None:
    examples = _doc_examples()
    requests = [e for e in examples if "regimen" in e]
    follow_ups = [e for e in examples if "regimen" not in e]
    assert requests
    assert follow_ups
    for example in requests:
        assert_valid("taper-request", example)
        plan = plan_taper(example)
        for visit in follow_ups:
            assert_valid("taper-follow-up", visit)
            adapt_plan(plan, visit)


_BAD_REQUESTS: list[tuple[str, Any]] = [
    ("unknown field", lambda r: r.update(speed="fast")),
    ("dose and doses", lambda r: r["regimen"][0].update(doses=[90, 90, 90])),
    ("no dose", lambda r: r["regimen"][0].pop("dose")),
    ("as needed without equivalent", lambda r: r["regimen"][0].update(as_needed=True)),
    ("equivalent without as needed", lambda r: r["regimen"][0].update(scheduled_equivalent={"dose": 5})),
    ("unknown market", lambda r: r.update(market="FR")),
    ("concurrent not a boolean", lambda r: r.update(concurrent_changes="yes")),
    ("bad date", lambda r: r.update(start_date="06/01/2025")),
    ("negative dose", lambda r: r["regimen"][0].update(dose=-5)),
    ("unknown factor set", lambda r: r.update(factor_set="cdc-2099")),
    (
        "liquid spec without concentration",
        lambda r: r["regimen"][0].update(
            product={
                "ingredient": "morphine",
                "unit": "mg/mL",
                "route": "oral",
                "release": "IR",
                "dose_form": "solution",
            }
        ),
    ),
]


@pytest.mark.parametrize(("case", "change"), _BAD_REQUESTS, ids=[c for c, _ in _BAD_REQUESTS])
def test_the_request_schema_and_the_engine_refuse_the_same_malformed_requests(case: str, change: Any) -> None:
    raw = request(morphine_er())
    change(raw)
    assert schema_errors("taper-request", raw), case
    with pytest.raises(RequestValidationError):
        plan_taper(raw)


def test_a_follow_up_the_engine_refuses_is_refused_by_its_schema() -> None:
    for visit in ({"date": "2025-02-03", "cows": 60}, {"date": "2025-02-03", "mood": "low"}, {"cows": 3}):
        assert schema_errors("taper-follow-up", visit)
    plan = plan_taper(request({"drug": OXYCODONE_IR, "dose": 5, "times_per_day": 2, "strengths": [5]}))
    with pytest.raises(RequestValidationError):
        adapt_plan(plan, {"date": "2025-02-03", "mood": "low"})


_NULL_MEANS_NOT_GIVEN: list[tuple[str, Any]] = [
    ("pace", lambda r: r.update(pace=None)),
    ("patient_factors", lambda r: r.update(patient_factors=None)),
    ("patient_factors.phq9_item9", lambda r: r.update(patient_factors={"phq9_item9": None, "peg": None})),
    ("factor_set", lambda r: r.update(factor_set=None)),
    ("market", lambda r: r.update(market=None)),
    ("regimen[0].strengths", lambda r: r["regimen"][0].update(strengths=None)),
    ("regimen[0].pace", lambda r: r["regimen"][0].update(pace=None, units_per_box=None, product=None)),
]


@pytest.mark.parametrize(("case", "change"), _NULL_MEANS_NOT_GIVEN, ids=[c for c, _ in _NULL_MEANS_NOT_GIVEN])
def test_null_optional_fields_are_accepted_by_both_the_schema_and_the_engine(case: str, change: Any) -> None:
    raw = request(morphine_er())
    change(raw)
    assert not schema_errors("taper-request", raw), case
    plan_taper(raw)


def test_a_follow_up_with_unmeasured_scores_is_accepted_by_both() -> None:
    visit = {"date": "2025-02-03", "cows": None, "sows": None, "peg": None, "phq9_item9": None, "note": None}
    assert not schema_errors("taper-follow-up", visit)
    adapt_plan(plan_taper(request(morphine_er())), visit)
    with pytest.raises(RequestValidationError):
        adapt_plan(plan_taper(request(morphine_er())), {"date": "2025-02-03", "note": 5})
    assert schema_errors("taper-follow-up", {"date": "2025-02-03", "note": 5})


def test_the_request_schema_lists_exactly_the_known_factor_sets() -> None:
    documented = load_schema("taper-request")["properties"]["factor_set"]["enum"]
    assert set(documented) == {*available_factor_sets(), None}
