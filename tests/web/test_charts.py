"""The trajectory chart: a step line of the segments, labelled thresholds, harm marks, escaped text."""

from __future__ import annotations

import datetime as dt
import itertools
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest

from taperwise.web.charts import DEFAULT_THRESHOLDS, Mark, Scale, Step, step_points, trajectory_svg

SVG = "{http://www.w3.org/2000/svg}"
D = dt.date.fromisoformat


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))  # also proves the SVG is well-formed XML


def levels(points: list[tuple[float, float]], scale: Scale) -> list[float]:
    """The distinct heights the line visits, in order, as MME values."""
    zero, top = scale.y(Decimal(0)), scale.y(scale.top)
    values = [round(float(scale.top) * (zero - y) / (zero - top), 3) for _, y in points]
    return [v for i, v in enumerate(values) if i == 0 or v != values[i - 1]]


def test_the_line_steps_through_each_segment_and_drops_to_zero_in_a_gap():
    steps = [
        Step(D("2025-01-01"), D("2025-01-10"), Decimal(90)),
        Step(D("2025-01-11"), D("2025-01-20"), Decimal(30)),
        Step(D("2025-02-01"), D("2025-02-10"), Decimal(60)),
    ]
    scale = Scale(D("2025-01-01"), D("2025-03-01"), Decimal(100))
    assert levels(step_points(steps, scale), scale) == [0, 90, 30, 0, 60, 0]


def test_a_step_ends_at_the_start_of_the_day_after_its_inclusive_end_date():
    scale = Scale(D("2025-01-01"), D("2025-01-11"), Decimal(100))  # 10 days across
    points = step_points([Step(D("2025-01-01"), D("2025-01-05"), Decimal(50))], scale)
    high = [x for x, y in points if y == scale.y(Decimal(50))]
    assert max(high) == scale.x(D("2025-01-06"))


def test_both_thresholds_are_drawn_and_labelled_even_when_the_dose_is_low():
    svg = parse(trajectory_svg([Step(D("2025-01-01"), D("2025-01-30"), Decimal(10))], as_of=D("2025-03-31")))
    labels = [t.text for t in svg.iter(f"{SVG}text") if t.text and t.text.endswith("MME/day")]
    assert "50 MME/day" in labels
    assert "90 MME/day" in labels
    ys = {g.get("class"): float(g.find(f"{SVG}line").get("y1")) for g in svg.iter(f"{SVG}g")
          if "threshold" in (g.get("class") or "")}  # fmt: skip
    assert ys["threshold threshold-90"] < ys["threshold threshold-50"]  # 90 is higher on the page
    assert min(ys.values()) > 0  # inside the plot, not clipped off the top


def test_harm_events_are_marked_with_their_kind_and_date():
    steps = [Step(D("2025-01-01"), D("2025-03-30"), Decimal(120))]
    svg = parse(trajectory_svg(steps, [Mark(D("2025-03-10"), "opioid_overdose")], as_of=D("2025-03-31")))
    titles = [
        t.text for g in svg.iter(f"{SVG}g") if "harm" in (g.get("class") or "") for t in g.iter(f"{SVG}title")
    ]
    assert titles == ["opioid overdose on 2025-03-10"]


def test_the_chart_is_described_for_screen_readers():
    svg = parse(trajectory_svg([Step(D("2025-01-01"), D("2025-01-31"), Decimal(180))], as_of=D("2025-03-31")))
    assert svg.get("role") == "img"
    assert svg.get("aria-labelledby") == "trajectory-title trajectory-desc"
    desc = svg.find(f"{SVG}desc")
    assert desc is not None
    assert "Highest 180 MME/day from 2025-01-01 to 2025-01-31" in (desc.text or "")


def test_a_patient_with_no_segments_gets_an_empty_chart_that_says_so():
    svg = parse(trajectory_svg([], as_of=D("2025-03-31")))
    assert "No opioid supply" in (svg.find(f"{SVG}desc").text or "")


def test_hostile_text_in_an_event_kind_is_escaped():
    markup = trajectory_svg([], [Mark(D("2025-03-01"), '<script>alert("x")</script>')], as_of=D("2025-03-31"))
    assert "<script>" not in markup
    assert parse(markup) is not None


@pytest.mark.parametrize(("plateau", "expected"), [(120, "120"), (240, "240"), (90, "100"), (30, "100")])
def test_y_ticks_are_round_values_that_a_plateau_reads_against(plateau: int, expected: str) -> None:
    from taperwise.web.charts import _scale, y_ticks

    scale = _scale(
        [Step(dt.date(2025, 1, 1), dt.date(2025, 2, 1), Decimal(plateau))], None, DEFAULT_THRESHOLDS
    )
    ticks = [f"{v.normalize():f}" for v in y_ticks(scale)]
    assert expected in ticks
    assert ticks[0] == "0"
    assert len(ticks) <= 8
    spacing = {b - a for a, b in itertools.pairwise(y_ticks(scale))}
    assert len(spacing) == 1  # evenly spaced
