"""The MME trajectory as inline SVG, drawn on the server: no chart library, no script, prints as is.

The line is a step function of the exposure engine's constant-MME segments (a segment covers its start
day through its end day inclusive, so a step ends at the start of the day after `end_date`); days with
no segment are drawn at zero. The 50 and 90 MME/day lines are the registry's high-dose thresholds
(clinical-rules.md §3) and are labelled on the chart, because a colour alone tells a colour-blind reader
nothing. Harm events are marked on the time axis with their kind and date as an SVG `<title>`. The chart
carries `<title>` and `<desc>` for screen readers, and the page shows the same numbers as a table.
Every piece of text is escaped here, since the SVG is inserted into the page as markup.

The SVG has a `viewBox` and fills the width of its container (CSS `width: 100%`), text included, so a
layout that fits in the drawn width fits at any width on screen. The date labels are chosen for that
drawn width: the finest round calendar step (days, weeks, months, quarters, half-years, years) whose
labels, measured with a generous width per character, keep a clear gap between them.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 960, 320  # the drawn size (viewBox units); the page scales it to the content width
LEFT, RIGHT, TOP, BOTTOM = 60, 136, 12, 60  # threshold labels: right margin; dates, registry date: below
FONT_SIZE = 12  # viewBox units, set on the <svg> so every label scales with the chart
MAX_FONT_SIZE = 16  # the largest the stylesheet sets (narrow screens draw the chart smaller, so larger text)
CHAR_EM = 0.7  # a generous width of one character, in em (DejaVu Sans digits are 0.64 em)
MIN_LABEL_GAP = 16  # viewBox units between two date labels, at the least
DEFAULT_THRESHOLDS = (Decimal(50), Decimal(90))
DEFAULT_WINDOW_DAYS = 180
HARM_KINDS_SHOWN_AS_OVERDOSE = frozenset({"opioid_overdose", "overdose", "poisoning"})


@dataclass(frozen=True)
class Step:
    start_date: dt.date
    end_date: dt.date  # inclusive
    daily_mme: Decimal
    overlapping: bool = False  # two fills of one product in supply at once (an early refill, added)


@dataclass(frozen=True)
class Mark:
    date: dt.date
    kind: str


@dataclass(frozen=True)
class Scale:
    first: dt.date
    last: dt.date  # exclusive: the day after the last day drawn
    top: Decimal
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def right(self) -> float:
        """The right edge of the plot (the threshold labels are beyond it)."""
        return float(self.width - RIGHT)

    def x(self, day: dt.date) -> float:
        span = max((self.last - self.first).days, 1)
        return LEFT + (self.width - LEFT - RIGHT) * (day - self.first).days / span

    def y(self, mme: Decimal) -> float:
        return TOP + (self.height - TOP - BOTTOM) * float(1 - mme / self.top)


def _scale(
    steps: Sequence[Step],
    as_of: dt.date | None,
    thresholds: Sequence[Decimal],
    *,
    width: int = WIDTH,
    window_days: int = DEFAULT_WINDOW_DAYS,
) -> Scale:
    days = [s.start_date for s in steps] + [s.end_date + dt.timedelta(days=1) for s in steps]
    if as_of is not None:  # at least the registry's lookback window, ending on the registry date
        days += [as_of - dt.timedelta(days=window_days - 1), as_of + dt.timedelta(days=1)]
    if not days:
        today = dt.date.today()
        days = [today - dt.timedelta(days=window_days), today]
    highest = max([s.daily_mme for s in steps] + [max(thresholds, default=Decimal(90))])
    step = tick_step(highest * Decimal("1.1"))
    top = (highest * Decimal("1.1") / step).to_integral_value(rounding="ROUND_CEILING") * step
    return Scale(min(days), max(days), max(top, step), width=width)


_NICE = (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(4), Decimal(5))


def tick_step(span: Decimal) -> Decimal:
    """A round step (1, 2, 2.5, 4 or 5 × a power of ten) giving at most seven ticks up to `span`, so a
    plateau at 120 or 240 MME/day reads against a tick at its own value."""
    span = max(span, Decimal(10))
    power = Decimal(1)
    while power * 10 <= span / 4:
        power *= 10
    for nice in (*_NICE, Decimal(10)):
        if span / (nice * power) <= 7:
            return nice * power
    return power * 10


def y_ticks(scale: Scale) -> list[Decimal]:
    """Round values from 0 to the top of the scale."""
    step = tick_step(scale.top / Decimal("1.1"))
    count = int((scale.top / step).to_integral_value(rounding="ROUND_FLOOR"))
    return [step * n for n in range(count + 1)]


def step_points(steps: Sequence[Step], scale: Scale) -> list[tuple[float, float]]:
    """The corners of the step line, from the first day drawn to the last, dropping to zero in gaps."""
    zero = scale.y(Decimal(0))
    points = [(scale.x(scale.first), zero)]
    for step in sorted(steps, key=lambda s: s.start_date):
        x_start, x_end = scale.x(step.start_date), scale.x(step.end_date + dt.timedelta(days=1))
        if points[-1][0] < x_start:  # a gap since the last step: the line rests on zero through it
            if points[-1][1] != zero:
                points.append((points[-1][0], zero))
            points.append((x_start, zero))
        level = scale.y(step.daily_mme)
        points += [(x_start, level), (x_end, level)]
    if points[-1][1] != zero:
        points.append((points[-1][0], zero))
    points.append((scale.x(scale.last), zero))
    return points


@dataclass(frozen=True)
class DateStep:
    """A round calendar step between date labels: `count` days, weeks (from Mondays), months (from
    January: 3 is quarters, 6 half-years) or years (from years divisible by `count`)."""

    unit: str
    count: int
    fmt: str


DATE_STEPS = (
    DateStep("day", 1, "%Y-%m-%d"),
    DateStep("day", 2, "%Y-%m-%d"),
    DateStep("week", 1, "%Y-%m-%d"),
    DateStep("week", 2, "%Y-%m-%d"),
    DateStep("month", 1, "%Y-%m"),
    DateStep("month", 2, "%Y-%m"),
    DateStep("month", 3, "%Y-%m"),
    DateStep("month", 6, "%Y-%m"),
    *(DateStep("year", n, "%Y") for n in (1, 2, 5, 10, 20, 50, 100)),
)


@dataclass(frozen=True)
class DateLabel:
    day: dt.date
    text: str
    x: float


def label_width(text: str) -> float:
    """A generous width of a label in viewBox units: wider than any digit of the usual sans fonts, at the
    largest font size the stylesheet may set."""
    return len(text) * CHAR_EM * MAX_FONT_SIZE


def _step_days(step: DateStep, first: dt.date, last: dt.date) -> list[dt.date]:
    """The days of `step` from `first` up to (not including) `last`."""
    if step.unit == "day":
        return [first + dt.timedelta(days=n) for n in range(0, (last - first).days, step.count)]
    if step.unit == "week":
        monday = first + dt.timedelta(days=-first.weekday() % 7)
        return [monday + dt.timedelta(days=n) for n in range(0, (last - monday).days, 7 * step.count)]
    months_per = step.count if step.unit == "month" else 12 * step.count
    month = first.year * 12 + first.month - 1  # months since year 0
    month += -month % months_per  # the first whole step at or after `first`'s month
    days: list[dt.date] = []
    while True:
        day = dt.date(month // 12, month % 12 + 1, 1)
        if day >= last:
            return days
        if day >= first:
            days.append(day)
        month += months_per


def _fits(labels: Sequence[DateLabel], width: int) -> bool:
    """No two labels closer than MIN_LABEL_GAP, none past the edge of the drawing."""
    for label in labels:
        half = label_width(label.text) / 2
        if label.x - half < 0 or label.x + half > width:
            return False
    return all(
        b.x - a.x >= (label_width(a.text) + label_width(b.text)) / 2 + MIN_LABEL_GAP
        for a, b in itertools.pairwise(labels)
    )


def date_labels(scale: Scale) -> list[DateLabel]:
    """The x-axis labels: the finest round calendar step whose labels fit the drawn width without
    overlapping, whatever the span (a month or ten years). None when not even a century step fits."""
    for step in DATE_STEPS:
        days = _step_days(step, scale.first, scale.last)
        labels = [DateLabel(day, f"{day:{step.fmt}}", scale.x(day)) for day in days]
        if labels and _fits(labels, scale.width):
            return labels
    return []


def describe(
    steps: Sequence[Step], marks: Sequence[Mark], as_of: dt.date | None, as_of_label: str = "registry date"
) -> str:
    """The chart in one paragraph of words, for screen readers and for `<desc>`."""
    if not steps:
        text = "No opioid supply with a daily MME was found for this patient."
    else:
        ordered = sorted(steps, key=lambda s: s.start_date)
        peak = max(ordered, key=lambda s: s.daily_mme)
        text = (
            f"Daily MME from {ordered[0].start_date} to {ordered[-1].end_date}, in {len(ordered)} "
            f"steps. Highest {peak.daily_mme.normalize():f} MME/day from {peak.start_date} to "
            f"{peak.end_date}. Latest {ordered[-1].daily_mme.normalize():f} MME/day until "
            f"{ordered[-1].end_date}."
        )
    if as_of is not None:
        text += f" {as_of_label[:1].upper()}{as_of_label[1:]} {as_of}."
    overlapped = [s for s in steps if s.overlapping]
    if overlapped:
        text += (
            f" {len(overlapped)} step(s) include two fills of one product at once (an early refill?), "
            "marked on the line."
        )
    if marks:
        text += " Harm events: " + "; ".join(f"{m.kind.replace('_', ' ')} on {m.date}" for m in marks) + "."
    return text


def _overlaps(scale: Scale, steps: Sequence[Step]) -> list[str]:
    """A thick band over each step whose level includes two fills of one product at once, with a tooltip."""
    parts = []
    for step in steps:
        if not step.overlapping:
            continue
        x1, x2 = scale.x(step.start_date), scale.x(step.end_date + dt.timedelta(days=1))
        y = scale.y(step.daily_mme)
        tip = escape(
            f"{step.start_date} to {step.end_date}: {step.daily_mme.normalize():f} MME/day includes two "
            "fills of one product in supply at once (an early refill?)"
        )
        parts.append(
            f'<line class="overlap" x1="{x1:.1f}" x2="{x2:.1f}" y1="{y:.1f}" y2="{y:.1f}">'
            f"<title>{tip}</title></line>"
        )
    return parts


def _thresholds(scale: Scale, thresholds: Sequence[Decimal]) -> list[str]:
    """The dashed high-dose lines, labelled in the right margin; the labels of two thresholds drawn close
    together are moved apart so they never overlap. Classes name the low and the high one (and the value),
    so a site's own thresholds (50 and 100, 90 and 120) are styled like the default's."""
    ordered = sorted(thresholds)
    label_ys: list[float] = []
    for value in ordered:  # lowest first: the lowest sits on its line, higher ones move up if crowded
        y = scale.y(value) + 4
        if label_ys and label_ys[-1] - y < FONT_SIZE + 2:
            y = label_ys[-1] - FONT_SIZE - 2
        label_ys.append(y)
    parts = []
    for n, (value, label_y) in enumerate(zip(ordered, label_ys, strict=True)):
        y = scale.y(value)
        rank = "high" if n == len(ordered) - 1 and n > 0 else "low"
        text = f"{value.normalize():f} MME/day"
        parts.append(
            f'<g class="threshold threshold-{rank} threshold-{value.normalize():f}">'
            f'<line x1="{LEFT}" x2="{scale.right:.1f}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text x="{scale.right + 6:.1f}" y="{label_y:.1f}" text-anchor="start">{escape(text)}</text></g>'
        )
    return parts


def _axes(scale: Scale) -> list[str]:
    zero = scale.y(Decimal(0))
    middle = TOP + (scale.height - TOP - BOTTOM) / 2
    parts = [f'<line class="axis" x1="{LEFT}" x2="{scale.right:.1f}" y1="{zero:.1f}" y2="{zero:.1f}"/>',
             f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{zero:.1f}"/>']  # fmt: skip
    for value in y_ticks(scale):  # round values; the thresholds are labelled on their own lines
        y = scale.y(value)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{scale.right:.1f}" y1="{y:.1f}" y2="{y:.1f}"/>'
                     f'<text class="tick y-tick" x="{LEFT - 6}" y="{y + 4:.1f}" '
                     f'text-anchor="end">{value.normalize():f}</text>')  # fmt: skip
    for label in date_labels(scale):
        parts.append(f'<line class="axis" x1="{label.x:.1f}" x2="{label.x:.1f}" y1="{zero:.1f}" '
                     f'y2="{zero + 4:.1f}"/><text class="tick x-tick" x="{label.x:.1f}" y="{zero + 18:.1f}" '
                     f'text-anchor="middle">{escape(label.text)}</text>')  # fmt: skip
    parts.append(f'<text class="axis-label" x="14" y="{middle:.1f}" transform="rotate(-90 14 {middle:.1f})" '
                 'text-anchor="middle">MME/day</text>')  # fmt: skip
    return parts


def _harm_marks(scale: Scale, marks: Sequence[Mark]) -> list[str]:
    zero = scale.y(Decimal(0))
    parts = []
    for mark in sorted(marks, key=lambda m: m.date):
        if not scale.first <= mark.date < scale.last:
            continue
        x = scale.x(mark.date)
        kind = "overdose" if mark.kind in HARM_KINDS_SHOWN_AS_OVERDOSE else "other"
        parts.append(
            f'<g class="harm harm-{kind}"><title>{escape(mark.kind.replace("_", " "))} on {mark.date}</title>'
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{zero:.1f}"/>'
            f'<path d="M{x:.1f} {zero - 2:.1f} l-6 -11 h12 z"/></g>'
        )
    return parts


def trajectory_svg(
    steps: Sequence[Step],
    marks: Sequence[Mark] = (),
    *,
    as_of: dt.date | None = None,
    thresholds: Sequence[Decimal] = DEFAULT_THRESHOLDS,
    chart_id: str = "trajectory",
    width: int = WIDTH,
    window_days: int = DEFAULT_WINDOW_DAYS,
    as_of_label: str = "registry date",
    as_of_text: str | None = None,
    program_start: dt.date | None = None,
) -> Markup:
    """The whole chart as one `<svg>` element, safe to insert into a page. `width` is the drawn width in
    viewBox units (the page scales the drawing to its container); `window_days` the registry's lookback,
    the least span drawn before the registry date. A taper plan's staircase marks its start instead
    (`as_of_text="plan starts 2027-01-04"`, the words under the marker in full)."""
    scale = _scale(steps, as_of, thresholds, width=width, window_days=window_days)
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in step_points(steps, scale))
    cid = escape(chart_id)
    parts = [
        f'<svg class="trajectory" viewBox="0 0 {scale.width} {scale.height}" width="100%" '
        f'preserveAspectRatio="xMidYMid meet" font-size="{FONT_SIZE}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg" aria-labelledby="{cid}-title {cid}-desc" id="{cid}">',
        f'<title id="{cid}-title">Daily MME over time</title>',
        f'<desc id="{cid}-desc">{escape(describe(steps, marks, as_of, as_of_label))}</desc>',
        *_axes(scale),
        *_thresholds(scale, thresholds),
    ]
    if as_of is not None:  # its label under the date labels, clear of the line, the harm marks and the dates
        x = scale.x(as_of + dt.timedelta(days=1))
        zero = scale.y(Decimal(0))
        anchor = (
            "start" if x < LEFT + (scale.width - LEFT - RIGHT) / 4 else "end"
        )  # keep it inside the drawing
        parts.append(
            f'<g class="as-of"><line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{zero + 24:.1f}"/>'
            f'<text x="{x:.1f}" y="{zero + 42:.1f}" text-anchor="{anchor}">'
            f"{escape(as_of_text or f'{as_of_label} {as_of}')}</text></g>"
        )
    if program_start is not None and scale.first <= program_start < scale.last:
        # The program's start (the first agreed plan): the trajectory since then is the program's outcome.
        x = scale.x(program_start)
        parts.append(
            f'<g class="program-start"><title>taper plan started {program_start}</title>'
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{scale.y(Decimal(0)):.1f}"/>'
            f'<text x="{x + 4:.1f}" y="{TOP + 12}">plan started</text></g>'
        )
    parts += [f'<polyline class="mme-line" points="{path}"/>', *_overlaps(scale, steps)]
    parts += [*_harm_marks(scale, marks), "</svg>"]
    return Markup("".join(parts))


def score_chart_svg(
    points: Sequence[tuple[dt.date, Decimal]],
    maximum: Decimal,
    title: str,
    *,
    chart_id: str,
    bands: Sequence[Decimal] = (),
) -> Markup:
    """A small line chart of one score over time (PEG 0–10, PHQ-9 0–27), with dashed lines at `bands`.

    Points in date order; one point is drawn as a dot. The words of the chart are in `<title>`/`<desc>`
    and the same numbers are in the table beside it, so a reader never depends on the picture."""
    width, height, left, right, top, bottom = 420, 180, 40, 16, 14, 36
    ordered = sorted(points)
    first = ordered[0][0] if ordered else dt.date.today()
    last = ordered[-1][0] if ordered else first
    span = max((last - first).days, 1)
    below = height - bottom + 18

    def x(day: dt.date) -> float:
        if len(ordered) < 2:
            return (left + width - right) / 2
        return left + (width - left - right) * (day - first).days / span

    def y(value: Decimal) -> float:
        return top + (height - top - bottom) * float(1 - value / maximum)

    cid = escape(chart_id)
    desc = "; ".join(f"{day}: {value.normalize():f}" for day, value in ordered) or "no scores yet"
    parts = [
        f'<svg class="score-chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'xmlns="http://www.w3.org/2000/svg" aria-labelledby="{cid}-title {cid}-desc" id="{cid}">',
        f'<title id="{cid}-title">{escape(title)}</title><desc id="{cid}-desc">{escape(desc)}</desc>',
        f'<line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{height - bottom}"/>',
        f'<line class="axis" x1="{left}" x2="{width - right}" y1="{height - bottom}" '
        f'y2="{height - bottom}"/>',
    ]
    for tick in (Decimal(0), maximum / 2, maximum):
        label = f"{tick.normalize():f}"
        parts.append(
            f'<text class="tick" x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{label}</text>'
        )
    for band in bands:
        parts.append(
            f'<line class="band" x1="{left}" x2="{width - right}" y1="{y(band):.1f}" y2="{y(band):.1f}"/>'
        )
    if ordered:
        path = " ".join(f"{x(day):.1f},{y(value):.1f}" for day, value in ordered)
        parts.append(f'<polyline class="score-line" points="{path}"/>')
        parts += [
            f'<circle class="score-point" cx="{x(d):.1f}" cy="{y(v):.1f}" r="3.5"/>' for d, v in ordered
        ]
        parts.append(f'<text class="tick" x="{x(first):.1f}" y="{below}" text-anchor="start">{first}</text>')
        if last != first:
            parts.append(f'<text class="tick" x="{x(last):.1f}" y="{below}" text-anchor="end">{last}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
