"""Fixtures for the taper tests: the published VA schedules."""

from __future__ import annotations

from typing import Any

import pytest

from tests.taper.builders import morphine_er, request


@pytest.fixture
def va_example_1() -> dict[str, Any]:
    """VA Opioid Taper Decision Tool, example 1: morphine ER 90 mg Q8h, 45 mg/day every 4 weeks."""
    return request(morphine_er(), pace={"reduction": 45, "unit": "absolute", "every_days": 28})
