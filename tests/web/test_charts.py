"""The trajectory chart: a step line of the segments, labelled thresholds, harm marks, escaped text."""

from __future__ import annotations

import datetime as dt
import itertools
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest

from taperwise.web.charts import (
    DEFAULT_THRESHOLDS,
    FONT_SIZE,
    MAX_FONT_SIZE,
    Mark,
    Scale,
    Step,
    date_labels,
    step_points,
    trajectory_svg,
)

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
    high, low = ys["threshold threshold-high threshold-90"], ys["threshold threshold-low threshold-50"]
    assert high < low  # 90 is higher on the page
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


# A stricter width per character than the chart's own (0.7 em), at the largest font size the stylesheet
# sets: DejaVu Sans, the widest usual sans font, has 0.64 em digits; if labels this wide do not overlap,
# no real font's do.
TEST_CHAR_EM = 0.75
SPANS = (
    1,
    7,
    30,
    31,
    45,
    60,
    90,
    120,
    180,
    200,
    365,
    366,
    500,
    730,
    1000,
    1461,
    2000,
    2557,
    3000,
    3653,
    4000,
)
STARTS = (D("2015-01-01"), D("2019-02-28"), D("2020-02-29"), D("2023-07-17"), D("2024-12-31"))
WIDTHS = (480, 640, 760, 960, 1200, 1600)


def x_labels(markup: str) -> tuple[int, list[tuple[float, str]]]:
    """The drawn width and the date labels (centre x, text) of a chart."""
    svg = parse(markup)
    width = int(svg.get("viewBox").split()[2])
    ticks = [t for t in svg.iter(f"{SVG}text") if "x-tick" in (t.get("class") or "")]
    assert all(t.get("text-anchor") == "middle" for t in ticks)
    return width, [(float(t.get("x")), t.text or "") for t in ticks]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("days", SPANS)
def test_date_labels_never_overlap_whatever_the_span_and_the_width(days: int, width: int) -> None:
    for first in STARTS:
        steps = [Step(first, first + dt.timedelta(days=days - 1), Decimal(60))]
        drawn, labels = x_labels(trajectory_svg(steps, width=width))
        assert drawn == width
        if days >= 30 and width >= 760:
            assert len(labels) >= 2, (first, days, width)  # a reader can place a date on the line
        half = TEST_CHAR_EM * MAX_FONT_SIZE / 2
        boxes = sorted((x - len(t) * half, x + len(t) * half) for x, t in labels)
        for (_, right), (left, _) in itertools.pairwise(boxes):
            assert left - right >= 4, (first, days, width, labels)
        assert all(left >= 0 and right <= width for left, right in boxes), (first, days, width)


@pytest.mark.parametrize(
    ("days", "width", "texts"),
    [
        (4, 960, ["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-04"]),  # days
        (9, 960, ["2025-01-01", "2025-01-03", "2025-01-05", "2025-01-07", "2025-01-09"]),  # every second day
        (30, 960, ["2025-01-06", "2025-01-13", "2025-01-20", "2025-01-27"]),  # Mondays
        (180, 960, ["2025-01", "2025-02", "2025-03", "2025-04", "2025-05", "2025-06"]),  # months
        (365, 960, ["2025-01", "2025-03", "2025-05", "2025-07", "2025-09", "2025-11"]),  # every 2 months
        (540, 960, ["2025-01", "2025-04", "2025-07", "2025-10", "2026-01", "2026-04"]),  # quarters
        (730, 960, ["2025-01", "2025-07", "2026-01", "2026-07"]),  # half-years
        (3653, 960, [str(year) for year in range(2025, 2036)]),  # years (to 2035-01-01, the last day)
        (3653, 760, [str(year) for year in range(2026, 2036, 2)]),  # every second year
        (3653, 480, ["2025", "2030", "2035"]),  # every fifth
    ],
)
def test_date_labels_are_round_calendar_steps_as_fine_as_fit(days: int, width: int, texts: list[str]) -> None:
    first = D("2025-01-01")
    scale = Scale(first, first + dt.timedelta(days=days), Decimal(100), width=width)
    assert [label.text for label in date_labels(scale)] == texts


def test_the_chart_scales_to_its_container_and_its_text_with_it():
    svg = parse(trajectory_svg([Step(D("2025-01-01"), D("2025-03-30"), Decimal(120))], as_of=D("2025-03-31")))
    assert svg.get("width") == "100%"
    assert svg.get("height") is None  # the height follows the width (CSS height: auto)
    assert svg.get("preserveAspectRatio") == "xMidYMid meet"
    assert svg.get("font-size") == str(FONT_SIZE)  # viewBox units: the labels scale with the drawing


def test_a_sites_own_thresholds_are_drawn_labelled_and_styled_as_low_and_high():
    steps = [Step(D("2025-01-01"), D("2025-03-30"), Decimal(120))]
    svg = parse(trajectory_svg(steps, as_of=D("2025-03-31"), thresholds=(Decimal(50), Decimal(100))))
    groups = {g.get("class"): g for g in svg.iter(f"{SVG}g") if "threshold" in (g.get("class") or "")}
    assert set(groups) == {"threshold threshold-low threshold-50", "threshold threshold-high threshold-100"}
    assert [g.find(f"{SVG}text").text for g in groups.values()] == ["50 MME/day", "100 MME/day"]


def test_labels_of_thresholds_drawn_close_together_do_not_overlap():
    steps = [Step(D("2025-01-01"), D("2025-03-30"), Decimal(900))]
    svg = parse(trajectory_svg(steps, as_of=D("2025-03-31"), thresholds=(Decimal(90), Decimal(100))))
    ys = sorted(float(t.get("y")) for g in svg.iter(f"{SVG}g") if "threshold" in (g.get("class") or "")
                for t in g.iter(f"{SVG}text"))  # fmt: skip
    assert ys[1] - ys[0] >= FONT_SIZE


def test_the_chart_shows_at_least_the_lookback_window_before_the_registry_date():
    from taperwise.web.charts import _scale

    steps = [Step(D("2025-03-01"), D("2025-03-30"), Decimal(60))]
    for window, first in ((120, "2024-12-02"), (365, "2024-04-01")):
        scale = _scale(steps, D("2025-03-31"), DEFAULT_THRESHOLDS, window_days=window)
        assert (scale.first, scale.last) == (D(first), D("2025-04-01"))


def test_a_level_that_includes_two_fills_of_one_product_is_marked_and_described():
    steps = [
        Step(D("2025-01-01"), D("2025-01-25"), Decimal(240)),
        Step(D("2025-01-26"), D("2025-01-30"), Decimal(480), overlapping=True),
        Step(D("2025-01-31"), D("2025-03-01"), Decimal(240)),
    ]
    svg = parse(trajectory_svg(steps, as_of=D("2025-03-31")))
    bands = [line for line in svg.iter(f"{SVG}line") if line.get("class") == "overlap"]
    assert len(bands) == 1
    assert "480 MME/day includes two fills of one product" in bands[0].findtext(f"{SVG}title", "")
    assert "1 step(s) include two fills of one product at once" in svg.findtext(f"{SVG}desc", "")
    plain = parse(trajectory_svg(steps[:1], as_of=D("2025-03-31")))
    assert not [line for line in plain.iter(f"{SVG}line") if line.get("class") == "overlap"]


def test_a_score_chart_draws_each_assessment_and_says_the_numbers_in_words() -> None:
    import datetime as dt
    from decimal import Decimal

    from taperwise.web.charts import score_chart_svg

    svg = score_chart_svg([(dt.date(2026, 1, 5), Decimal("7.0")), (dt.date(2026, 3, 2), Decimal("4.3"))],
                          Decimal(10), "PEG over time", chart_id="peg-chart")  # fmt: skip
    assert svg.count('class="score-point"') == 2
    assert "2026-01-05: 7; 2026-03-02: 4.3" in svg
    assert "style=" not in svg  # the CSP allows no inline style
    one = score_chart_svg(
        [(dt.date(2026, 1, 5), Decimal(12))], Decimal(27), "PHQ-9", chart_id="p", bands=(Decimal(10),)
    )
    assert one.count('class="score-point"') == 1
    assert 'class="band"' in one


def test_the_trajectory_marks_when_the_taper_plan_started_only_inside_the_drawing() -> None:
    import datetime as dt
    from decimal import Decimal

    from taperwise.web.charts import Step, trajectory_svg

    steps = [Step(dt.date(2025, 1, 1), dt.date(2025, 3, 31), Decimal(90))]
    inside = trajectory_svg(steps, as_of=dt.date(2025, 3, 31), program_start=dt.date(2025, 2, 3))
    assert "taper plan started 2025-02-03" in inside
    outside = trajectory_svg(steps, as_of=dt.date(2025, 3, 31), program_start=dt.date(2027, 1, 1))
    assert "plan started" not in outside
