"""The published VA Opioid Taper Decision Tool schedules (reference/taper-examples.md), reproduced exactly."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from taperwise.taper import TaperPlan, plan_taper
from tests.taper.builders import morphine_er, request

VA_1_DAILY = [270, 225, 180, 135, 90, 45, 30, 15, 0]


def _per_administration(plan: TaperPlan) -> list[list[tuple[str, int, list[int]]]]:
    """(time, dose, strengths of the units) per administration, per step: the VA table's 'regimen' column."""
    return [
        [
            (a.time, int(a.dose), [int(u.strength) for u in a.units for _ in range(u.count)])
            for a in step.administrations
        ]
        for step in plan.steps
    ]


def test_va_example_1_daily_totals_are_reproduced(va_example_1: dict[str, Any]) -> None:
    plan = plan_taper(va_example_1)
    assert plan.daily_totals("morphine") == [Decimal(v) for v in VA_1_DAILY]
    assert [step.daily_mme for step in plan.steps] == [Decimal(v) for v in VA_1_DAILY[1:]]


def test_va_example_1_tablets_per_administration_and_interval_extension(va_example_1: dict[str, Any]) -> None:
    plan = plan_taper(va_example_1)
    q8h = ("morning", "midday", "evening")
    expected = [
        [(t, 75, [60, 15]) for t in q8h],
        [(t, 60, [60]) for t in q8h],
        [(t, 45, [30, 15]) for t in q8h],
        [(t, 30, [30]) for t in q8h],
        [(t, 15, [15]) for t in q8h],
        [("morning", 15, [15]), ("evening", 15, [15])],
        [("bedtime", 15, [15])],
        [],
    ]
    assert _per_administration(plan) == expected
    assert [s.schedule for s in plan.steps[4:]] == [
        "every 8 hours",
        "every 12 hours",
        "once daily at bedtime",
        "stopped",
    ]
    assert [s.kind for s in plan.steps] == ["reduction"] * 5 + ["interval_extension"] * 2 + ["stop"]


def test_va_example_1_steps_are_four_weeks_apart(va_example_1: dict[str, Any]) -> None:
    plan = plan_taper(va_example_1)
    assert [s.days for s in plan.steps] == [28] * 7 + [None]
    assert plan.summary["duration_days"] == 7 * 28


def test_va_example_1_as_percent_of_original_gives_the_same_schedule(va_example_1: dict[str, Any]) -> None:
    linear = request(
        morphine_er(), pace={"reduction": 16.67, "unit": "percent_of_original", "every_days": 28}
    )
    assert plan_taper(linear).daily_totals("morphine") == plan_taper(va_example_1).daily_totals("morphine")


def test_va_example_1_carries_a_rate_caution(va_example_1: dict[str, Any]) -> None:
    plan = plan_taper(va_example_1)
    caution = next(w for w in plan.warnings if w.code == "rate_above_long_term")
    assert caution.severity == "caution"
    assert caution.steps == (1, 2, 3, 4, 5)
    assert plan.summary["drugs"][0]["va_tier"] == "slower"
    assert not plan.review_required


def test_same_doses_weekly_are_the_faster_taper_with_a_caution() -> None:
    faster = plan_taper(request(morphine_er(), pace={"reduction": 45, "unit": "absolute", "every_days": 7}))
    assert faster.daily_totals("morphine") == [Decimal(v) for v in VA_1_DAILY]
    assert [s.days for s in faster.steps[:-1]] == [7] * 7
    assert "rate_above_long_term" in faster.warning_codes()
    assert faster.summary["drugs"][0]["va_tier"] == "faster"
    assert "rapid_taper" not in faster.warning_codes()


def test_va_example_2_changes_one_administration_per_step_in_order_to_the_goal() -> None:
    plan = plan_taper(
        request(
            morphine_er(60, 3, strengths=[15]),
            goal={"type": "target_daily_mme", "value": 90},
            pace={"reduction": 15, "unit": "absolute", "every_days": 10},
        )
    )
    doses = [[int(a.dose) for a in step.administrations] for step in plan.steps]
    # columns: morning, midday ("afternoon" in the VA calendar), evening
    assert doses == [
        [60, 45, 60],
        [45, 45, 60],
        [45, 45, 45],
        [45, 30, 45],
        [30, 30, 45],
        [30, 30, 30],
    ]
    assert [int(s.daily_mme) for s in plan.steps] == [165, 150, 135, 120, 105, 90]
    assert [s.days for s in plan.steps] == [10] * 5 + [None]
    assert plan.steps[0].administrations[0].units[0].count == 4  # "4 tabs (60)"
    assert plan.summary["goal_reached"] is True
