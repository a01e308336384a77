"""The synthetic population, generated chunk by chunk: people, their courses, harm events, corruptions.

Determinism: chunk ``c`` draws from ``numpy.random.default_rng([seed, c])`` and chunks hold a fixed
number of patients, so the same seed and options give the same data, byte for byte, whatever the
machine — and a chunk can be regenerated alone. Nothing reads the clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from taperwise.errors import TaperwiseError
from taperwise.synth.config import SynthConfig, load_config
from taperwise.synth.courses import Fills, assign_providers, draw_fills
from taperwise.synth.events import Events, draw_events
from taperwise.synth.malformed import choose_malformed
from taperwise.synth.people import People, Providers, draw_people, providers
from taperwise.synth.products import ProductTable, product_table

IntArray = npt.NDArray[np.int64]
CHUNK_PATIENTS = 20_000  # part of the output's definition: changing it changes every seed's data


@dataclass(frozen=True)
class SynthOptions:
    patients: int
    seed: int = 0
    start: dt.date | None = None  # default: parameters.json default_window
    end: dt.date | None = None
    malformed: bool = True


@dataclass(frozen=True)
class SynthContext:
    """What every chunk and writer shares: settings, products, providers, the window, id width."""

    config: SynthConfig
    products: ProductTable
    staff: Providers
    start: dt.date
    end: dt.date
    id_width: int
    options: SynthOptions = field(repr=False)

    @property
    def window_days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def epoch(self) -> np.datetime64:
        return np.datetime64(self.start.isoformat(), "D")


@dataclass(frozen=True)
class Batch:
    """One chunk: fills sorted by patient then date, `seq` the fill's number within its patient."""

    chunk: int
    people: People
    fills: Fills
    seq: IntArray
    malformed: IntArray  # index into malformed.all_kinds, or -1
    structured: npt.NDArray[np.bool_]  # the fill carries its sig as units_per_day
    events: Events
    death_day: IntArray  # per person of the chunk; events.NO_DEATH when alive


def make_context(options: SynthOptions) -> SynthContext:
    if options.patients < 1:
        raise TaperwiseError(f"--patients must be at least 1 (got {options.patients})")
    config = load_config()
    default_start, default_end = (dt.date.fromisoformat(d) for d in config.parameters.default_window)
    start, end = options.start or default_start, options.end or default_end
    if (end - start).days < 60:
        raise TaperwiseError(f"the window {start}..{end} must span at least 60 days")
    return SynthContext(
        config=config,
        products=product_table(),
        staff=providers(config),
        start=start,
        end=end,
        id_width=max(6, len(str(options.patients))),
        options=options,
    )


def _within_patient(person: IntArray) -> IntArray:
    """0, 1, 2… along each run of equal (sorted) person numbers."""
    first = np.flatnonzero(np.r_[True, person[1:] != person[:-1]]) if len(person) else np.zeros(0, np.int64)
    runs = np.diff(np.r_[first, len(person)])
    return np.arange(len(person)) - np.repeat(first, runs)


def make_batch(context: SynthContext, chunk: int) -> Batch:
    """Chunk `chunk` of the population (patients chunk*CHUNK_PATIENTS onwards)."""
    options = context.options
    first = chunk * CHUNK_PATIENTS
    count = min(CHUNK_PATIENTS, options.patients - first)
    rng = np.random.default_rng([options.seed, chunk])
    config, days = context.config, context.window_days
    people = draw_people(rng, config, context.staff, first, count, days)
    events, death_day = draw_events(rng, config, people, days)
    fills = draw_fills(rng, config, people, context.products)
    alive = fills.start_day <= death_day[fills.person]
    fills = fills.take(np.flatnonzero((fills.start_day >= 0) & (fills.start_day < days) & alive))
    fills = fills.take(np.lexsort((fills.product, fills.start_day, fills.person)))
    fills = assign_providers(rng, config, fills, people, context.staff)
    seq = _within_patient(fills.person)
    eligible = context.products.counted[fills.product] & (seq > 0)
    malformed = choose_malformed(rng, config.parameters.malformed, eligible, options.malformed)
    structured = rng.random(len(fills)) < config.parameters.structured_sig_share
    return Batch(chunk, people, fills, seq, malformed, structured, events, death_day)


def generate(context: SynthContext) -> Iterator[Batch]:
    """Every chunk in order."""
    chunks = -(-context.options.patients // CHUNK_PATIENTS)
    for chunk in range(chunks):
        yield make_batch(context, chunk)
