"""Synthetic people: market, name style, sex, birth date, practice, prescribers, pharmacies, course.

All draws are vectorised over a chunk of patients. Identifiers are plainly synthetic — ``SP`` and a
serial number of at most 8 digits, practices ``ORG-US-1``, prescribers ``DR-US1-03``, pharmacies
``PH-UK2-01`` — so nothing can be mistaken for a US social security number (3-2-4 digits) or an NHS
number (10 digits).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from taperwise.synth.config import MARKETS, STYLES, SynthConfig

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Providers:
    """Practices, prescribers and pharmacies, numbered globally; each belongs to one practice."""

    organisations: tuple[str, ...]
    organisation_names: tuple[str, ...]
    organisation_market: IntArray
    prescribers: tuple[str, ...]
    prescriber_organisation: IntArray
    pharmacies: tuple[str, ...]
    pharmacy_organisation: IntArray

    def of_market(self, owner: IntArray, market: int) -> IntArray:
        """Indices of prescribers (or pharmacies, given their owner array) in one market."""
        return np.flatnonzero(self.organisation_market[owner] == market)


def providers(config: SynthConfig) -> Providers:
    params = config.parameters
    orgs: list[str] = []
    names: list[str] = []
    markets: list[int] = []
    for m, market in enumerate(MARKETS):
        for org, name in params.organisations[market].items():
            orgs.append(org)
            names.append(name)
            markets.append(m)
    prescribers, prescriber_org, pharmacies, pharmacy_org = [], [], [], []
    for o, org in enumerate(orgs):
        short = org.removeprefix("ORG-").replace("-", "")
        for j in range(params.prescribers_per_organisation):
            prescribers.append(f"DR-{short}-{j + 1:02d}")
            prescriber_org.append(o)
        for j in range(params.pharmacies_per_organisation):
            pharmacies.append(f"PH-{short}-{j + 1:02d}")
            pharmacy_org.append(o)
    return Providers(
        organisations=tuple(orgs),
        organisation_names=tuple(names),
        organisation_market=np.array(markets, dtype=np.int64),
        prescribers=tuple(prescribers),
        prescriber_organisation=np.array(prescriber_org, dtype=np.int64),
        pharmacies=tuple(pharmacies),
        pharmacy_organisation=np.array(pharmacy_org, dtype=np.int64),
    )


@dataclass(frozen=True)
class People:
    """One chunk of patients; `index` is global (0-based), days count from the window start."""

    index: IntArray
    market: IntArray  # index into MARKETS
    style: IntArray  # index into STYLES
    female: BoolArray
    birth_day: IntArray  # days from the window start (negative)
    organisation: IntArray
    prescriber: IntArray  # usual prescriber
    successor: IntArray  # who takes over for "inherited" patients
    handover_day: IntArray  # from this day the successor prescribes; a large number = never
    pharmacy: IntArray
    archetype: IntArray
    course_start: IntArray

    def __len__(self) -> int:
        return len(self.index)


def _within_organisation(rng: np.random.Generator, owner: IntArray, organisation: IntArray) -> IntArray:
    """A random member (prescriber or pharmacy) of each patient's organisation."""
    per_org = np.bincount(owner, minlength=int(organisation.max()) + 1)
    first = np.concatenate([[0], np.cumsum(per_org)[:-1]])
    return first[organisation] + rng.integers(0, per_org[organisation])


def _markets(rng: np.random.Generator, config: SynthConfig, count: int) -> tuple[IntArray, IntArray]:
    params = config.parameters
    shares = np.array([params.markets[m] for m in MARKETS])
    market = rng.choice(len(MARKETS), size=count, p=shares / shares.sum())
    style = np.zeros(count, dtype=np.int64)
    for m, name in enumerate(MARKETS):
        weights = np.array([params.name_styles[name].get(s, 0.0) for s in STYLES])
        who = np.flatnonzero(market == m)
        style[who] = rng.choice(len(STYLES), size=len(who), p=weights / weights.sum())
    return market.astype(np.int64), style


def draw_people(
    rng: np.random.Generator, config: SynthConfig, staff: Providers, first: int, count: int, window_days: int
) -> People:
    params = config.parameters
    market, style = _markets(rng, config, count)
    org_in_market = [np.flatnonzero(staff.organisation_market == m) for m in range(len(MARKETS))]
    organisation = np.empty(count, dtype=np.int64)
    for m, orgs in enumerate(org_in_market):
        who = np.flatnonzero(market == m)
        organisation[who] = rng.choice(orgs, size=len(who))
    age = params.age_years
    years = np.clip(rng.normal(age["mean"], age["sd"], count), age["min"], age["max"])
    prescriber = _within_organisation(rng, staff.prescriber_organisation, organisation)
    # The successor is another prescriber of the same practice: the usual one shifted by 1..n-1.
    per_org = params.prescribers_per_organisation
    shift = rng.integers(1, max(per_org, 2), size=count) % per_org
    successor = prescriber - (prescriber % per_org) + (prescriber % per_org + shift) % per_org
    shares = np.array([a.share for a in config.archetypes])
    archetype = rng.choice(len(shares), size=count, p=shares / shares.sum())
    lead_in = np.array([a.lead_in_days for a in config.archetypes])[archetype]
    course_start = rng.integers(-lead_in, max(window_days - 30, 1))
    inherited = rng.random(count) < np.array([a.inherited_share for a in config.archetypes])[archetype]
    handover = np.maximum(course_start, 0) + rng.integers(60, 420, size=count)
    return People(
        index=np.arange(first, first + count, dtype=np.int64),
        market=market,
        style=style,
        female=rng.random(count) < params.female_share,
        birth_day=-(years * 365.25).astype(np.int64) - rng.integers(0, 365, size=count),
        organisation=organisation,
        prescriber=prescriber,
        successor=successor,
        handover_day=np.where(inherited, handover, np.iinfo(np.int32).max).astype(np.int64),
        pharmacy=_within_organisation(rng, staff.pharmacy_organisation, organisation),
        archetype=archetype.astype(np.int64),
        course_start=course_start.astype(np.int64),
    )
