"""Clinical courses as fills: each archetype's lines, expanded into refills with numpy, no Python loop
over patients or fills.

A *line* is one product refilled over time for one patient (a long-acting opioid filled monthly for
years, the as-needed tablets beside it, a benzodiazepine). Refill timing follows ``parameters.json``:
mostly on time with a few days' jitter, sometimes early (an overlap the registry must see), sometimes
after a gap; tapers step one strength down their product ladder every few fills and then stop. Who
writes and who dispenses each fill is decided here too: the usual prescriber, a covering colleague, the
successor of an "inherited" patient, or — for the multi-provider course — anyone in the market.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from taperwise.synth.config import MARKETS, Line, SynthConfig
from taperwise.synth.people import People, Providers
from taperwise.synth.products import ProductTable

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Fills:
    """Dispensed fills of one chunk; `person` indexes the chunk's People, days count from the window."""

    person: IntArray
    product: IntArray
    start_day: IntArray
    days_supply: IntArray
    quantity: IntArray
    prescriber: IntArray
    pharmacy: IntArray

    def __len__(self) -> int:
        return len(self.person)

    def take(self, order: IntArray) -> Fills:
        return Fills(*(getattr(self, name)[order] for name in self.__dataclass_fields__))


@dataclass(frozen=True)
class _Lines:
    person: IntArray
    product: IntArray
    start_day: IntArray
    days_supply: IntArray
    fills: IntArray
    every: IntArray  # taper: fills per step (0 = no taper)
    hold: IntArray


def _uniform(rng: np.random.Generator, bounds: tuple[int, int], size: int) -> IntArray:
    return rng.integers(bounds[0], bounds[1] + 1, size=size)


def _draw_lines(
    rng: np.random.Generator, line: Line, who: IntArray, people: People, table: ProductTable, start: IntArray
) -> _Lines:
    count = len(who)
    market = people.market[who]
    min_rank = line.taper.min_start_rank if line.taper else 0
    product = table.choose(rng, line.role, market, min_rank)
    supply = np.empty(count, dtype=np.int64)
    for m, name in enumerate(MARKETS):
        here = np.flatnonzero(market == m)
        supply[here] = rng.choice(np.array(line.days_supply[name]), size=len(here))
    if line.taper is None:
        fills, every, hold = (
            _uniform(rng, line.fills, count),
            np.zeros(count, np.int64),
            np.zeros(count, np.int64),
        )
    else:
        every = _uniform(rng, line.taper.every_fills, count)
        hold = _uniform(rng, line.taper.hold_fills, count)
        fills = hold + (table.rank[product] + 1) * every
    start_day = start + _uniform(rng, line.start_after_days, count)
    return _Lines(who, product, start_day, supply, fills, every, hold)


def _intervals(rng: np.random.Generator, config: SynthConfig, line: Line, supply: IntArray) -> IntArray:
    """Days from one fill to the next: the supply plus jitter, early refills and gaps."""
    size = len(supply)
    if line.refill_gap_days is not None:
        gapped: IntArray = np.maximum(supply + _uniform(rng, line.refill_gap_days, size), 1)
        return gapped
    refills = config.parameters.refills
    extra = _uniform(rng, refills.jitter_days, size)
    draw = rng.random(size)
    early = draw < refills.early_refill_share
    gap = (draw >= refills.early_refill_share) & (draw < refills.early_refill_share + refills.gap_share)
    extra = np.where(early, -_uniform(rng, refills.early_by_days, size), extra)
    extra = np.where(gap, _uniform(rng, refills.gap_days, size), extra)
    interval: IntArray = np.maximum(supply + extra, 1)
    return interval


def _expand(
    rng: np.random.Generator, config: SynthConfig, line: Line, lines: _Lines, table: ProductTable
) -> tuple[Fills, IntArray]:
    """Fills of every line, and the day after each line's last supply ends."""
    n = lines.fills
    owner = np.repeat(np.arange(len(n)), n)
    first_of_line = np.cumsum(n) - n
    k = np.arange(len(owner)) - first_of_line[owner]
    supply = lines.days_supply[owner]
    interval = _intervals(rng, config, line, supply)
    before = np.cumsum(interval) - interval
    base = before[first_of_line[n > 0]] if len(owner) else np.zeros(0, np.int64)
    line_base = np.zeros(len(n), dtype=np.int64)
    line_base[n > 0] = base
    start_day = lines.start_day[owner] + before - line_base[owner]
    product = lines.product[owner]
    tapering = lines.every[owner] > 0
    if tapering.any():
        step = np.maximum(k - lines.hold[owner], 0) // np.maximum(lines.every[owner], 1)
        rung = np.maximum(table.rank[product] - step, 0)
        product = np.where(tapering, table.ladder_table[table.ladder[product], rung], product)
    last = np.zeros(len(n), dtype=np.int64)
    np.maximum.at(last, owner, start_day + supply)
    fills = Fills(
        person=lines.person[owner],
        product=product,
        start_day=start_day,
        days_supply=supply,
        quantity=table.quantity(product, supply),
        prescriber=np.zeros(len(owner), np.int64),
        pharmacy=np.zeros(len(owner), np.int64),
    )
    return fills, np.where(n > 0, last, lines.start_day)


def _present(rng: np.random.Generator, lines: tuple[Line, ...], count: int) -> list[npt.NDArray[np.bool_]]:
    """Which of an archetype's lines each patient has; lines of a group are alternatives."""
    present = [rng.random(count) < line.probability for line in lines]
    for group in {line.group for line in lines if line.group}:
        members = [i for i, line in enumerate(lines) if line.group == group]
        weights = np.array([lines[i].probability for i in members])
        pick = rng.choice(len(members), size=count, p=weights / weights.sum())
        for j, i in enumerate(members):
            present[i] = pick == j
    return present


def _concat(parts: list[Fills]) -> Fills:
    names = Fills.__dataclass_fields__
    if not parts:
        return Fills(*(np.zeros(0, np.int64) for _ in names))
    return Fills(*(np.concatenate([getattr(p, name) for p in parts]) for name in names))


def draw_fills(rng: np.random.Generator, config: SynthConfig, people: People, table: ProductTable) -> Fills:
    """Every line of every patient's course, plus overlapping benzodiazepines, as fills (unsorted)."""
    parts: list[Fills] = []
    for a, archetype in enumerate(config.archetypes):
        members = np.flatnonzero(people.archetype == a)
        present = _present(rng, archetype.lines, len(members))
        ends: list[IntArray] = []
        for i, line in enumerate(archetype.lines):
            start = people.course_start[members]
            if line.follows is not None:
                start = np.where(present[line.follows], ends[line.follows], start)
            lines = _draw_lines(rng, line, members[present[i]], people, table, start[present[i]])
            fills, end = _expand(rng, config, line, lines, table)
            line_end = start.copy()
            line_end[present[i]] = end
            ends.append(line_end)
            parts.append(fills)
        with_benzo = members[rng.random(len(members)) < archetype.benzodiazepine_share]
        benzo = config.benzodiazepine_line
        lines = _draw_lines(rng, benzo, with_benzo, people, table, people.course_start[with_benzo])
        parts.append(_expand(rng, config, benzo, lines, table)[0])
    return _concat(parts)


def assign_providers(
    rng: np.random.Generator, config: SynthConfig, fills: Fills, people: People, staff: Providers
) -> Fills:
    """Prescriber and pharmacy of each fill."""
    params = config.parameters
    person = fills.person
    prescriber = np.where(
        fills.start_day >= people.handover_day[person], people.successor[person], people.prescriber[person]
    )
    per_org = params.prescribers_per_organisation
    covering = rng.random(len(person)) < params.covering_prescriber_share
    colleague = prescriber - prescriber % per_org + rng.integers(0, per_org, size=len(person))
    prescriber = np.where(covering, colleague, prescriber)
    per_pharmacy = params.pharmacies_per_organisation
    pharmacy = people.pharmacy[person]
    elsewhere = rng.random(len(person)) < params.other_pharmacy_share
    nearby = pharmacy - pharmacy % per_pharmacy + rng.integers(0, per_pharmacy, size=len(person))
    pharmacy = np.where(elsewhere, nearby, pharmacy)
    shopping = np.array([a.multi_provider for a in config.archetypes])[people.archetype[person]]
    for m in range(len(MARKETS)):
        here = np.flatnonzero(shopping & (people.market[person] == m))
        doctors = staff.of_market(staff.prescriber_organisation, m)
        shops = staff.of_market(staff.pharmacy_organisation, m)
        prescriber[here] = rng.choice(doctors, size=len(here))
        pharmacy[here] = rng.choice(shops, size=len(here))
    return Fills(
        person, fills.product, fills.start_day, fills.days_supply, fills.quantity, prescriber, pharmacy
    )
