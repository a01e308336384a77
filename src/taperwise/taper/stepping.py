"""The next change of one drug: the rounding, ordering and interval rules of clinical-rules §4.

A change is built from "single moves": each lowers one administration to the next achievable dose, always
the highest administration, ties broken midday -> morning -> evening/bedtime (rules.json `schedules`). So a
step smaller than a whole day's change touches one administration, and a whole day's change touches each
once, as in the VA examples. The step taken is the run of moves whose total is nearest the requested
reduction and at most 1.5 times it (rules.json `rounding`); if even one move is larger, it is taken and the
interval lengthened so the average rate stays at or below the agreed one. Once every administration is at
the smallest unit, administrations are removed one per step at the pace's interval (Q8h -> Q12h -> nightly
-> stop); a patch at its smallest strength is simply removed (the last patch step).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from taperwise.taper.courses import DrugCourse
from taperwise.taper.request import Pace
from taperwise.taper.rules import TaperRules


@dataclass(frozen=True)
class Dosing:
    """The doses of one drug in force: one per administration (one patch application for a patch)."""

    times: tuple[str, ...]
    doses: tuple[Decimal, ...]

    @property
    def daily(self) -> Decimal:
        """mg/day for oral forms; for a patch, the mcg/hr worn (the unit its MME factor uses)."""
        return sum(self.doses, Decimal(0))

    @property
    def stopped(self) -> bool:
        return not self.doses


@dataclass(frozen=True)
class Change:
    dosing: Dosing
    days: int
    kind: str  # reduction | interval_extension | stop
    requested: Decimal
    achieved: Decimal
    lengthened: bool = False


GoalCheck = Callable[[Dosing], bool]


def initial_dosing(course: DrugCourse, rules: TaperRules) -> Dosing:
    if course.is_patch:
        return Dosing((patch_time(course),), course.original)
    return Dosing(rules.schedule(len(course.original)).times, course.original)


def patch_time(course: DrugCourse) -> str:
    return f"patch, changed every {course.spec.wear_hours} hours"


def _min_reduction(course: DrugCourse, rules: TaperRules) -> Decimal:
    return course.strengths.smallest * rules.number("rounding", "min_reduction_fraction_of_smallest_unit")


def _moves(course: DrugCourse, dosing: Dosing, rules: TaperRules, enough: Decimal) -> list[Dosing]:
    """Successive single moves from `dosing`, until their total reduction exceeds `enough`."""
    rank = {time: i for i, time in enumerate(_reduce_order(course, dosing, rules))}
    gap = _min_reduction(course, rules)
    doses = list(dosing.doses)
    moves: list[Dosing] = []
    while not moves or dosing.daily - moves[-1].daily <= enough:
        lowered = [(i, course.strengths.next_lower(dose, gap)) for i, dose in enumerate(doses)]
        open_moves = [(i, low) for i, low in lowered if low is not None]
        if not open_moves:
            break
        i, low = min(open_moves, key=lambda m: (-doses[m[0]], rank[dosing.times[m[0]]]))
        doses[i] = low
        moves.append(Dosing(dosing.times, tuple(doses)))
    return moves


def _reduce_order(course: DrugCourse, dosing: Dosing, rules: TaperRules) -> tuple[str, ...]:
    if course.is_patch:
        return dosing.times
    return rules.schedule(len(dosing.times)).reduce_order


def _remove_one(course: DrugCourse, dosing: Dosing, rules: TaperRules) -> Dosing:
    """Drop the first administration in reduce order; relabel the rest for the new count (Q8h -> Q12h)."""
    if len(dosing.doses) == 1:
        return Dosing((), ())
    drop = next(t for t in _reduce_order(course, dosing, rules) if t in dosing.times)
    kept = tuple(dose for time, dose in zip(dosing.times, dosing.doses, strict=True) if time != drop)
    return Dosing(rules.schedule(len(kept)).times, kept)


def _choose(moves: list[Dosing], start: Dosing, requested: Decimal, limit: Decimal, goal: GoalCheck) -> int:
    """Index of the move nearest the requested reduction (ties: the smaller), stopping at the goal."""
    within = [i for i, move in enumerate(moves) if start.daily - move.daily <= limit]
    if not within:
        return 0
    best = min(within, key=lambda i: (abs(start.daily - moves[i].daily - requested), i))
    reaching = [i for i in range(best + 1) if goal(moves[i])]
    return reaching[0] if reaching else best


def next_change(
    course: DrugCourse, dosing: Dosing, pace: Pace, rules: TaperRules, goal: GoalCheck
) -> Change | None:
    """The next change of this drug, or None when it is stopped or the goal is reached."""
    if dosing.stopped or goal(dosing):
        return None
    phase = pace.phase_at(course.original_daily, dosing.daily)
    requested = phase.requested_step(course.original_daily, dosing.daily)
    limit = requested * rules.number("rounding", "max_step_multiple")
    moves = _moves(course, dosing, rules, limit)
    if not moves:
        after = _remove_one(course, dosing, rules)
        kind = "stop" if after.stopped else "interval_extension"
        return Change(after, phase.every_days, kind, requested, dosing.daily - after.daily)
    chosen = moves[_choose(moves, dosing, requested, limit, goal)]
    achieved = dosing.daily - chosen.daily
    days = phase.every_days
    lengthened = achieved > limit
    if lengthened:
        days = math.ceil(phase.every_days * achieved / requested)
    return Change(chosen, days, "reduction", requested, achieved, lengthened)
