"""The rules are data with sources, and the JSON Schemas in docs/ describe what the engine writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from taperwise.taper import adapt_plan, plan_taper
from taperwise.taper.rules import load_rules
from tests.taper.builders import fentanyl, morphine_er, request

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def _schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    return loaded


def test_every_rule_warning_and_decision_cites_a_known_source() -> None:
    rules = load_rules()  # raises KnowledgeError on an unknown source id
    assert rules.version
    assert all(w.source_id in rules.sources for w in rules.warnings.values())
    assert all(row["source"] in rules.sources for row in rules.decisions["rows"])
    assert rules.decisions["rows"][-1]["when"] == {"always": True}


def test_plan_schema_lists_every_field_the_plan_writes() -> None:
    plan = plan_taper(
        request(
            morphine_er(),
            fentanyl(25),
            pace={"reduction": 10, "unit": "percent_of_original", "every_days": 28},
        )
    )
    adapted = adapt_plan(plan, {"date": "2025-02-03", "preference": "pause"}).to_dict()
    schema = _schema("taper-plan.schema.json")
    assert set(adapted) == set(schema["required"])
    step_schema = schema["$defs"]["step"]["properties"]
    for step in adapted["steps"]:
        assert set(step) <= set(step_schema)
        for admin in step["administrations"]:
            assert set(admin) <= set(step_schema["administrations"]["items"]["properties"])
        for line in step["dispense"]:
            assert set(line) <= set(step_schema["dispense"]["items"]["properties"])
    for warning in adapted["warnings"]:
        assert set(warning) == set(schema["$defs"]["warning"]["required"])
        assert warning["severity"] in schema["$defs"]["warning"]["properties"]["severity"]["enum"]
    assert set(adapted["summary"]) == set(schema["properties"]["summary"]["required"])
    drug_fields = schema["properties"]["summary"]["properties"]["drugs"]["items"]["properties"]
    assert all(set(d) == set(drug_fields) for d in adapted["summary"]["drugs"])
    assert set(adapted["history"][0]) == set(schema["properties"]["history"]["items"]["required"])


def test_request_and_follow_up_schemas_list_every_accepted_field() -> None:
    request_schema = _schema("taper-request.schema.json")
    plan = plan_taper(request(morphine_er(), patient_factors={"peg": 4}))
    normalised = plan.to_dict()["request"]
    assert set(normalised) <= set(request_schema["properties"])
    assert set(normalised["regimen"][0]) <= set(request_schema["$defs"]["regimen_item"]["properties"])
    follow_up = (
        adapt_plan(plan, {"date": "2025-02-03", "cows": 3, "peg": 4, "note": "ok"}).history[0].follow_up
    )
    assert set(follow_up) <= set(_schema("taper-follow-up.schema.json")["properties"])
