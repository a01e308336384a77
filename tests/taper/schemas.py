"""The JSON Schemas in docs/schemas/ as validators (Draft 2020-12), for the taper tests.

The plan is checked against a *strict* copy of its schema (no field the schema does not list), so the
documentation cannot fall behind the engine; the published schema itself stays open to added fields,
as its format id promises.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"
NAMES = ("taper-request", "taper-plan", "taper-follow-up")


def load_schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))
    return loaded


def _closed(schema: Any) -> Any:
    """A copy where every object schema listing `properties` refuses other fields."""
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _closed(value) for key, value in schema.items()}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


@cache
def validator(name: str, *, strict: bool = False) -> Draft202012Validator:
    schemas = {other: load_schema(other) for other in NAMES}
    if strict:
        schemas[name] = _closed(copy.deepcopy(schemas[name]))
    registry: Registry[Any] = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values()
    )
    Draft202012Validator.check_schema(schemas[name])
    return Draft202012Validator(schemas[name], registry=registry, format_checker=FormatChecker())


def schema_errors(name: str, instance: Any, *, strict: bool = False) -> list[str]:
    """Every way `instance` breaks the schema, as 'path: message' lines (empty when valid)."""
    errors = validator(name, strict=strict).iter_errors(instance)
    return sorted(
        f"{'/'.join(str(p) for p in error.absolute_path) or '(top)'}: {error.message}" for error in errors
    )


def assert_valid(name: str, instance: Any, *, strict: bool = False) -> None:
    problems = schema_errors(name, instance, strict=strict)
    assert not problems, f"{name} schema: " + "; ".join(problems[:5])
