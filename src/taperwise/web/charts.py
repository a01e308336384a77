"""The MME trajectory as inline SVG, drawn on the server: no chart library, no script, prints as is.

The line is a step function of the exposure engine's constant-MME segments (a segment covers its start
day through its end day inclusive, so a step ends at the start of the day after `end_date`); days with
no segment are drawn at zero. The 50 and 90 MME/day lines are the registry's high-dose thresholds
(clinical-rules.md §3) and are labelled on the chart, because a colour alone tells a colour-blind reader
nothing. Harm events are marked on the time axis with their kind and date as an SVG `<title>`. The chart
carries `<title>` and `<desc>` for screen readers, and the page shows the same numbers as a table.
Every piece of text is escaped here, since the SVG is inserted into the page as markup.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 760, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 96, 16, 48  # labels of the thresholds sit in the right margin
DEFAULT_THRESHOLDS = (Decimal(50), Decimal(90))
HARM_KINDS_SHOWN_AS_OVERDOSE = frozenset({"opioid_overdose", "overdose", "poisoning"})


@dataclass(frozen=True)
class Step:
    start_date: dt.date
    end_date: dt.date  # inclusive
    daily_mme: Decimal


@dataclass(frozen=True)
class Mark:
    date: dt.date
    kind: str


@dataclass(frozen=True)
class Scale:
    first: dt.date
    last: dt.date  # exclusive: the day after the last day drawn
    top: Decimal

    def x(self, day: dt.date) -> float:
        span = max((self.last - self.first).days, 1)
        return LEFT + (WIDTH - LEFT - RIGHT) * (day - self.first).days / span

    def y(self, mme: Decimal) -> float:
        return TOP + (HEIGHT - TOP - BOTTOM) * float(1 - mme / self.top)


def _scale(steps: Sequence[Step], as_of: dt.date | None, thresholds: Sequence[Decimal]) -> Scale:
    days = [s.start_date for s in steps] + [s.end_date + dt.timedelta(days=1) for s in steps]
    if as_of is not None:
        days += [as_of - dt.timedelta(days=179), as_of + dt.timedelta(days=1)]
    if not days:
        today = dt.date.today()
        days = [today - dt.timedelta(days=180), today]
    highest = max([s.daily_mme for s in steps] + [max(thresholds, default=Decimal(90))])
    step = tick_step(highest * Decimal("1.1"))
    top = (highest * Decimal("1.1") / step).to_integral_value(rounding="ROUND_CEILING") * step
    return Scale(min(days), max(days), max(top, step))


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


def _month_ticks(scale: Scale) -> list[dt.date]:
    day = scale.first.replace(day=1)
    ticks: list[dt.date] = []
    while day < scale.last:
        if day >= scale.first:
            ticks.append(day)
        day = (day + dt.timedelta(days=32)).replace(day=1)
    stride = max(1, len(ticks) // 8)  # at most about eight labels, whatever the span
    return ticks[::stride]


def describe(steps: Sequence[Step], marks: Sequence[Mark], as_of: dt.date | None) -> str:
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
        text += f" Registry date {as_of}."
    if marks:
        text += " Harm events: " + "; ".join(f"{m.kind.replace('_', ' ')} on {m.date}" for m in marks) + "."
    return text


def _threshold(scale: Scale, value: Decimal) -> str:
    y = scale.y(value)
    label = f"{value.normalize():f} MME/day"
    return (
        f'<g class="threshold threshold-{value.normalize():f}">'
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        f'<text x="{WIDTH - RIGHT + 6}" y="{y + 4:.1f}" text-anchor="start">{escape(label)}</text></g>'
    )


def _axes(scale: Scale, thresholds: Sequence[Decimal]) -> list[str]:
    zero = scale.y(Decimal(0))
    parts = [f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{zero:.1f}" y2="{zero:.1f}"/>',
             f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{zero:.1f}"/>']  # fmt: skip
    for value in y_ticks(scale):  # round values; the thresholds are labelled on their own lines
        y = scale.y(value)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
                     f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" '
                     f'text-anchor="end">{value.normalize():f}</text>')  # fmt: skip
    for day in _month_ticks(scale):
        x = scale.x(day)
        parts.append(f'<line class="axis" x1="{x:.1f}" x2="{x:.1f}" y1="{zero:.1f}" y2="{zero + 4:.1f}"/>'
                     f'<text class="tick" x="{x:.1f}" y="{zero + 16:.1f}" text-anchor="middle">'
                     f"{day:%Y-%m}</text>")  # fmt: skip
    parts.append(f'<text class="axis-label" x="14" y="{TOP + (HEIGHT - TOP - BOTTOM) / 2:.1f}" '
                 f'transform="rotate(-90 14 {TOP + (HEIGHT - TOP - BOTTOM) / 2:.1f})" '
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
) -> Markup:
    """The whole chart as one `<svg>` element, safe to insert into a page."""
    scale = _scale(steps, as_of, thresholds)
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in step_points(steps, scale))
    cid = escape(chart_id)
    parts = [
        f'<svg class="trajectory" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg" aria-labelledby="{cid}-title {cid}-desc" id="{cid}">',
        f'<title id="{cid}-title">Daily MME over time</title>',
        f'<desc id="{cid}-desc">{escape(describe(steps, marks, as_of))}</desc>',
        *_axes(scale, thresholds),
        *(_threshold(scale, value) for value in thresholds),
    ]
    if as_of is not None:
        x = scale.x(as_of + dt.timedelta(days=1))
        zero = scale.y(Decimal(0))
        parts.append(
            f'<g class="as-of"><line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{zero:.1f}"/>'
            f'<text x="{x - 4:.1f}" y="{TOP + 10}" text-anchor="end">registry date {as_of}</text></g>'
        )
    parts += [f'<polyline class="mme-line" points="{path}"/>', *_harm_marks(scale, marks), "</svg>"]
    return Markup("".join(parts))
