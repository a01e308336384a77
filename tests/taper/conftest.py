"""Fixtures for the taper tests: the published VA schedules, and schema checks on everything built.

Every plan the engine builds during these tests (VA examples, patches, liquids, adapted plans, the
hypothesis properties) is validated against docs/schemas/taper-plan.schema.json in its strict form, and
every request or follow-up the engine accepts against its own schema: the documented format is tested
by the whole suite, not by one example.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from taperwise.taper import adapt as adapt_module
from taperwise.taper import engine as engine_module
from taperwise.taper.adapt import FollowUp
from taperwise.taper.plan import TaperPlan
from taperwise.taper.request import TaperRequest
from tests.taper.builders import morphine_er, request
from tests.taper.schemas import assert_valid

CHECKED = {"plans": 0, "requests": 0, "follow_ups": 0}


def _checking_build(build: Callable[..., TaperPlan]) -> Callable[..., TaperPlan]:
    def build_and_check(*args: Any, **kwargs: Any) -> TaperPlan:
        plan = build(*args, **kwargs)
        assert_valid("taper-plan", plan.to_dict(), strict=True)
        assert_valid("taper-request", plan.request.to_dict())
        CHECKED["plans"] += 1
        return plan

    return build_and_check


def _checking_reader(read: Callable[[Any], Any], schema: str, counter: str) -> Any:
    def read_and_check(raw: Any) -> Any:
        result = read(raw)  # only what the engine accepts must match the schema
        assert_valid(schema, raw)
        CHECKED[counter] += 1
        return result

    return classmethod(lambda cls, raw: read_and_check(raw))


@pytest.fixture(scope="package", autouse=True)
def every_plan_matches_its_schema() -> Iterator[dict[str, int]]:
    """Wrap the engine's plan builder and input readers for the whole taper test package."""
    originals: list[tuple[Any, str, Any]] = [
        (engine_module, "build_plan", engine_module.build_plan),
        (adapt_module, "build_plan", adapt_module.build_plan),
        (TaperRequest, "from_dict", TaperRequest.__dict__["from_dict"]),
        (FollowUp, "from_dict", FollowUp.__dict__["from_dict"]),
    ]
    engine_module.build_plan = _checking_build(engine_module.build_plan)  # type: ignore[assignment]
    adapt_module.build_plan = _checking_build(adapt_module.build_plan)  # type: ignore[assignment]
    read_request = TaperRequest.from_dict
    read_follow_up = FollowUp.from_dict
    TaperRequest.from_dict = _checking_reader(read_request, "taper-request", "requests")  # type: ignore[method-assign]
    FollowUp.from_dict = _checking_reader(read_follow_up, "taper-follow-up", "follow_ups")  # type: ignore[method-assign]
    try:
        yield CHECKED
    finally:
        for owner, name, value in originals:
            setattr(owner, name, value)


@pytest.fixture
def va_example_1() -> dict[str, Any]:
    """VA Opioid Taper Decision Tool, example 1: morphine ER 90 mg Q8h, 45 mg/day every 4 weeks."""
    return request(morphine_er(), pace={"reduction": 45, "unit": "absolute", "every_days": 28})
