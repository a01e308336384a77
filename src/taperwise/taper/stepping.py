"""The next change of one drug: the rounding, ordering and interval rules of clinical-rules §4.

A change is built from "single moves": each lowers one administration to the next achievable simple dose
(rules.json `simple_regimens`), always the highest administration, ties broken midday -> morning ->
evening/bedtime (rules.json `schedules`). So a step smaller than a whole day's change touches one
administration, and a whole day's change touches each once, as in the VA examples. The step taken is the
run of moves whose total is nearest the requested reduction (rules.json `rounding`); whenever it is larger,
the change earns a longer interval, so the agreed pace is a ceiling. Once every administration is at the
smallest unit, administrations are removed one per step (Q8h -> Q12h -> nightly -> stop), each also earning
its interval at the agreed pace; a patch at its smallest strength is removed (the last patch step).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from taperwise.taper.courses import DrugCourse
from taperwise.taper.jsonvalues import plain
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
    """One drug's next change. `days` is the time it earns at the agreed pace: the pace's interval, or
    longer when the change is larger than the requested step (the pace is a ceiling)."""

    dosing: Dosing
    days: int
    kind: str  # reduction | interval_extension | stop
    requested: Decimal
    achieved: Decimal
    every_days: int = 0  # the interval of the pace in force
    lengthened: bool = False
    finer: str = ""  # a nearer step that would need more units or strengths than a simple dose (S-2)

    @property
    def needed(self) -> Decimal:
        """The exact days this change needs at the agreed pace (achieved / requested x every_days)."""
        return self.achieved * self.every_days / self.requested


GoalCheck = Callable[[Dosing], bool]


def initial_dosing(course: DrugCourse, rules: TaperRules) -> Dosing:
    if course.is_patch:
        return Dosing((patch_time(course),), course.original)
    return Dosing(rules.schedule(len(course.original)).times, course.original)


def patch_time(course: DrugCourse) -> str:
    return f"patch, changed every {course.spec.wear_hours} hours"


def earned_days(achieved: Decimal, requested: Decimal, every_days: int) -> int:
    """Days a change of `achieved` needs at a pace of `requested` every `every_days`: never faster."""
    if achieved <= requested:
        return every_days
    return math.ceil(every_days * achieved / requested)


def in_wear_periods(course: DrugCourse, days: int) -> int:
    """For a patch, `days` rounded up to whole wear periods (a change falls on a patch-change day)."""
    if not course.is_patch or not course.spec.wear_hours:
        return days
    period = max(math.ceil(course.spec.wear_hours / 24), 1)
    return math.ceil(days / period) * period


def _min_reduction(course: DrugCourse, rules: TaperRules) -> Decimal:
    return course.strengths.smallest * rules.number("rounding", "min_reduction_fraction_of_smallest_unit")


def _moves(
    course: DrugCourse, dosing: Dosing, rules: TaperRules, enough: Decimal, *, simple: bool = True
) -> list[Dosing]:
    """Successive single moves from `dosing`, until their total reduction exceeds `enough`. A combination
    dose never takes more units than the dose before it, so its partner (paracetamol) never rises."""
    rank = {time: i for i, time in enumerate(_reduce_order(course, dosing, rules))}
    gap = _min_reduction(course, rules)
    doses = list(dosing.doses)
    moves: list[Dosing] = []
    while not moves or dosing.daily - moves[-1].daily <= enough:
        # above the patient's partner maximum, a move drops a whole unit first (paracetamol falls soonest)
        over = course.partner_limit is not None and course.partner_in(doses) > course.partner_limit
        lowered = [(i, _lower(course, dose, gap, simple, over)) for i, dose in enumerate(doses)]
        open_moves = [(i, low) for i, low in lowered if low is not None]
        if not open_moves:
            break
        i, low = min(open_moves, key=lambda m: (-doses[m[0]], rank[dosing.times[m[0]]]))
        doses[i] = low
        moves.append(Dosing(dosing.times, tuple(doses)))
    return moves


def _lower(
    course: DrugCourse, dose: Decimal, gap: Decimal, simple: bool, over: bool = False
) -> Decimal | None:
    if not course.is_combination:
        return course.strengths.next_lower(dose, gap, simple=simple)
    units = course.strengths.unit_count(dose)
    fewer = course.strengths.next_lower(dose, gap, max_units=units - 1, simple=simple) if over else None
    return (
        fewer if fewer is not None else course.strengths.next_lower(dose, gap, max_units=units, simple=simple)
    )


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


def _choose(moves: list[Dosing], start: Dosing, requested: Decimal, goal: GoalCheck) -> int:
    """Index of the move nearest the requested reduction (ties: the smaller), stopping at the goal."""
    best = min(range(len(moves)), key=lambda i: (abs(start.daily - moves[i].daily - requested), i))
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
    moves = _moves(course, dosing, rules, requested)
    if not moves:
        after = _remove_one(course, dosing, rules)
        kind = "stop" if after.stopped else "interval_extension"
        achieved = dosing.daily - after.daily
        days = in_wear_periods(course, earned_days(achieved, requested, phase.every_days))
        return Change(after, days, kind, requested, achieved, phase.every_days, days > phase.every_days)
    chosen = moves[_choose(moves, dosing, requested, goal)]
    achieved = dosing.daily - chosen.daily
    days = in_wear_periods(course, earned_days(achieved, requested, phase.every_days))
    finer = "" if course.is_liquid else _finer(course, dosing, chosen, requested, rules, goal)
    return Change(
        chosen, days, "reduction", requested, achieved, phase.every_days, days > phase.every_days, finer
    )


def _finer(
    course: DrugCourse, dosing: Dosing, chosen: Dosing, requested: Decimal, rules: TaperRules, goal: GoalCheck
) -> str:
    """When a step nearer the requested one needs more than a simple dose, what it would need."""
    moves = _moves(course, dosing, rules, requested, simple=False)
    if not moves:
        return ""
    nearer = moves[_choose(moves, dosing, requested, goal)]
    if abs(dosing.daily - nearer.daily - requested) >= abs(dosing.daily - chosen.daily - requested):
        return ""
    for before, after in zip(dosing.doses, nearer.doses, strict=True):
        if after != before and not course.strengths.is_simple(after):
            units = course.strengths.units(after)
            made = " + ".join(f"{u.count} x {plain(u.strength)}" for u in units)
            return f"{plain(after)} {course.dose_unit} ({made} {course.spec.unit})"
    return ""
