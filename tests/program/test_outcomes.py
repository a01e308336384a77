"""The tapering success composite: each branch of its definition, and unknown never read as not met."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from taperwise.program.outcomes import success_rule, tapering_success


@pytest.mark.parametrize(
    ("baseline", "current", "peg0", "peg1", "status"),
    [
        (D(120), D(60), D(6), D(6), "success"),  # halved, pain the same
        (D(120), D(60), D(6), D("7.7"), "success"),  # halved, pain 28% worse: not meaningfully worse
        (D(120), D(60), D(6), D("7.8"), "not_met"),  # halved, pain 30% worse
        (D(120), D(120), D(6), D("4.2"), "success"),  # the same dose, pain 30% better
        (D(120), D(100), D(6), D(5), "not_met"),  # a little less, pain a little better
        (D(120), D(130), D(6), D(3), "not_met"),  # the dose rose: better pain does not count
        (D(120), D(0), D(5), D(5), "success"),  # stopped, pain the same
    ],
)
def test_the_composite_follows_its_definition(baseline: D, current: D, peg0: D, peg1: D, status: str) -> None:
    assert tapering_success(baseline, current, peg0, peg1).status == status


def test_a_missing_value_is_unknown_and_says_which() -> None:
    outcome = tapering_success(D(90), D(45), None, D(5))
    assert outcome.status == "unknown"
    assert outcome.reason == "not known: a baseline PEG"


def test_a_current_dose_that_is_a_lower_bound_is_unknown_not_success() -> None:
    outcome = tapering_success(D(90), D(20), D(5), D(5), current_is_lower_bound=True)
    assert outcome.status == "unknown"
    assert "lower bound" in outcome.reason


def test_no_opioid_at_baseline_does_not_apply() -> None:
    assert "does not apply" in tapering_success(D(0), D(0), D(5), D(5)).reason


def test_the_rule_is_data_with_a_source() -> None:
    rule = success_rule()
    assert (rule.dose_reduction, rule.pain_meaningful) == (D("0.5"), D("0.3"))
    assert rule.source_id == "cdc-2022-rec"
