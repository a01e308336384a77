"""Harm events watched after tapering: emergency visits, opioid overdoses, mental-health crises, deaths.

Rates come from each archetype's ``harm`` block (archetypes.json) and codes from ``events.csv``. An
overdose or a crisis happens *at* an emergency visit, so it is written as two events on the same day
sharing an encounter number (an Encounter and a Condition in FHIR, a visit and a condition in OMOP).
A share of overdoses is fatal (``overdose_death_share``); other deaths happen at random in the window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from taperwise.synth.config import MARKETS, SynthConfig
from taperwise.synth.people import People

IntArray = npt.NDArray[np.int64]
NO_DEATH = np.iinfo(np.int32).max
KINDS = ("emergency_visit", "opioid_overdose", "mental_health_crisis", "death")


@dataclass(frozen=True)
class Events:
    """Events of one chunk; `code` indexes config.events; `encounter` is -1 for deaths."""

    person: IntArray
    day: IntArray
    kind: IntArray  # index into KINDS
    code: IntArray
    encounter: IntArray  # chunk-local visit number shared by a visit and its diagnosis

    def __len__(self) -> int:
        return len(self.person)


def _codes(rng: np.random.Generator, config: SynthConfig, kind: str, market: IntArray) -> IntArray:
    chosen = np.zeros(len(market), dtype=np.int64)
    for m, name in enumerate(MARKETS):
        pool = [i for i, e in enumerate(config.events) if e.kind == kind and e.market in (name, "*")]
        weights = np.array([config.events[i].weight for i in pool])
        here = np.flatnonzero(market == m)
        chosen[here] = rng.choice(np.array(pool), size=len(here), p=weights / weights.sum())
    return chosen


def draw_events(
    rng: np.random.Generator, config: SynthConfig, people: People, window_days: int
) -> tuple[Events, IntArray]:
    """Harm events of a chunk, and each patient's death day (NO_DEATH when alive at the window's end)."""
    count = len(people)
    harm = [a.harm for a in config.archetypes]
    rate = np.array([h.emergency_visits_per_year for h in harm])[people.archetype]
    first_day = np.clip(people.course_start, 0, window_days - 1)
    span = window_days - first_day

    def when(who: IntArray) -> IntArray:
        return first_day[who] + (rng.random(len(who)) * span[who]).astype(np.int64)

    visits = np.minimum(rng.poisson(rate * window_days / 365.25), 6)
    plain = np.repeat(np.arange(count), visits)
    overdose = np.flatnonzero(rng.random(count) < np.array([h.overdose for h in harm])[people.archetype])
    crisis = np.flatnonzero(rng.random(count) < np.array([h.crisis for h in harm])[people.archetype])
    is_fatal = rng.random(len(overdose)) < config.parameters.overdose_death_share
    fatal = overdose[is_fatal]
    other_death = np.flatnonzero(rng.random(count) < np.array([h.death for h in harm])[people.archetype])

    overdose_day, crisis_day = when(overdose), when(crisis)
    death_day = np.full(count, NO_DEATH, dtype=np.int64)
    death_day[other_death] = when(other_death)
    fatal_day = overdose_day[is_fatal] + rng.integers(0, 2, size=len(fatal))
    death_day[fatal] = np.minimum(death_day[fatal], np.minimum(fatal_day, window_days - 1))
    dead = np.flatnonzero(death_day < NO_DEATH)

    visit_person = np.concatenate([plain, overdose, crisis])
    visit_day = np.concatenate([when(plain), overdose_day, crisis_day])
    encounter = np.arange(len(visit_person), dtype=np.int64)
    diagnosis = np.concatenate([np.ones(len(overdose), np.int64), np.full(len(crisis), 2, np.int64)])
    with_diagnosis = encounter[len(plain) :]
    person = np.concatenate([visit_person, visit_person[with_diagnosis], dead])
    kind = np.concatenate([np.zeros(len(visit_person), np.int64), diagnosis, np.full(len(dead), 3, np.int64)])
    day = np.concatenate([visit_day, visit_day[with_diagnosis], death_day[dead]])
    market = people.market[person]
    code = np.zeros(len(person), dtype=np.int64)
    for k, name in enumerate(KINDS):
        here = np.flatnonzero(kind == k)
        code[here] = _codes(rng, config, name, market[here])
    events = Events(
        person=person,
        day=day,
        kind=kind,
        code=code,
        encounter=np.concatenate([encounter, with_diagnosis, np.full(len(dead), -1, np.int64)]),
    )
    # No visit after death: a record dated after the death would be a data error, not a harm signal.
    keep = events.day <= death_day[events.person]
    return Events(*(getattr(events, f)[keep] for f in Events.__dataclass_fields__)), death_day
