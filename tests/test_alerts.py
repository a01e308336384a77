"""The shared clinical alerts: the same facts give the same alerts wherever they are shown."""

from __future__ import annotations

from decimal import Decimal

import pytest

from taperwise.alerts import ExposureFacts, exposure_alerts


def facts(
    mme: str,
    complete: bool | None = True,
    benzo: int = 0,
    overdoses: int | None = None,
    now: str | None = None,
) -> ExposureFacts:
    current = None if now is None else Decimal(now)
    return ExposureFacts(Decimal(mme), current, complete, benzo, 90, overdoses, 180)


def codes(f: ExposureFacts) -> list[str]:
    return [a.code for a in exposure_alerts(f)]


@pytest.mark.parametrize(("mme", "expected"), [("49.9", []), ("50", ["naloxone"]), ("120", ["naloxone"])])
def test_naloxone_from_the_rules_threshold_inclusive(mme: str, expected: list[str]) -> None:
    assert codes(facts(mme)) == expected


def test_an_incomplete_dose_below_the_threshold_still_prompts_naloxone_saying_why() -> None:
    (alert,) = exposure_alerts(facts("0", complete=False))
    assert alert.code == "naloxone"
    assert "could not be fully computed" in alert.message
    assert "may be 50 MME/day or more" in alert.message
    assert "0.0" not in alert.message  # an unknown dose is never quoted as zero
    (alert,) = exposure_alerts(facts("20", complete=False))
    assert "the known part alone is 20.0" in alert.message


def test_an_older_registry_row_without_completeness_is_read_as_it_is() -> None:
    assert codes(facts("20", complete=None)) == []


def test_a_benzodiazepine_gives_both_alerts_with_the_window_named() -> None:
    alerts = exposure_alerts(facts("10", benzo=12))
    assert [a.code for a in alerts] == ["naloxone", "benzodiazepine"]
    assert "12 days of overlap in the last 90 days" in alerts[1].message
    assert all(a.source for a in alerts)


def test_a_recent_overdose_prompts_naloxone_at_any_dose() -> None:
    (alert,) = exposure_alerts(facts("5", overdoses=1))
    assert "opioid overdose in the last 180 days" in alert.message


def test_a_high_dose_today_prompts_naloxone_even_when_the_average_is_low() -> None:
    (alert,) = exposure_alerts(facts("25", now="120"))
    assert "120.0 MME/day now (the average is lower)" in alert.message
    assert codes(facts("25", now="20")) == []
