"""Courses look like the clinical patterns they stand for, in roughly the configured proportions."""

from __future__ import annotations

import numpy as np
import pytest

from taperwise.synth.config import load_config
from taperwise.synth.generator import Batch, SynthOptions, make_batch, make_context

PATIENTS = 20_000


@pytest.fixture(scope="module")
def batch() -> Batch:
    return make_batch(make_context(SynthOptions(patients=PATIENTS, seed=4)), 0)


def _roles(batch: Batch) -> np.ndarray:
    from taperwise.synth.products import product_table

    return np.array([p.row.role for p in product_table().products])[batch.fills.product]


def _patients_with(batch: Batch, rows: np.ndarray) -> float:
    has = np.zeros(PATIENTS, dtype=bool)
    has[batch.fills.person[rows]] = True
    return float(has.mean())


def _archetype(name: str) -> int:
    return [a.id for a in load_config().archetypes].index(name)


def test_archetype_shares_follow_the_configuration(batch: Batch) -> None:
    counts = np.bincount(batch.people.archetype, minlength=len(load_config().archetypes)) / PATIENTS
    for archetype, observed in zip(load_config().archetypes, counts, strict=True):
        assert abs(observed - archetype.share) < 0.015, archetype.id


def test_long_term_courses_give_the_configured_share_of_repeat_users(batch: Batch) -> None:
    configured = sum(a.share for a in load_config().archetypes if a.long_term)
    opioid = _roles(batch) != "benzodiazepine"
    fills = np.bincount(batch.fills.person[opioid], minlength=PATIENTS)
    # Courses running before the window, or ending in a death, lose a few fills to the window's edges.
    assert configured - 0.1 < (fills >= 6).mean() <= configured


def test_benzodiazepine_co_prescription_share(batch: Batch) -> None:
    configured = sum(a.share * a.benzodiazepine_share for a in load_config().archetypes)
    observed = _patients_with(batch, _roles(batch) == "benzodiazepine")
    assert 0.7 * configured < observed < 1.05 * configured


def test_patch_share(batch: Batch) -> None:
    config = load_config()
    shares = {a.id: a.share for a in config.archetypes}
    taper_patch = next(
        line.probability
        for line in config.archetypes[_archetype("taper")].lines
        if line.role == "patch_fentanyl"
    )
    configured = shares["fentanyl_patch"] + shares["buprenorphine_patch"] + shares["taper"] * taper_patch
    observed = _patients_with(batch, np.isin(_roles(batch), ["patch_fentanyl", "patch_buprenorphine"]))
    assert 0.75 * configured < observed < 1.05 * configured


def test_tapers_only_step_down(batch: Batch) -> None:
    from taperwise.synth.products import product_table

    table = product_table()
    roles = _roles(batch)
    tapering = np.flatnonzero(batch.people.archetype == _archetype("taper"))
    stepped = 0
    for person in tapering:
        rows = np.flatnonzero((batch.fills.person == person) & np.isin(roles, ["ltot_er", "patch_fentanyl"]))
        ranks = table.rank[batch.fills.product[rows]]  # rows are in date order
        assert (np.diff(ranks) <= 0).all(), person
        stepped += int(len(ranks) > 0 and ranks[-1] < ranks[0])
    assert stepped > 0.5 * len(tapering)


def test_long_acting_and_breakthrough_are_filled_together(batch: Batch) -> None:
    roles = _roles(batch)
    both = 0
    members = np.flatnonzero(batch.people.archetype == _archetype("ltot_er_ir"))
    for person in members:
        mine = batch.fills.person == person
        er = batch.fills.start_day[mine & (roles == "ltot_er")]
        ir = batch.fills.start_day[mine & (roles == "breakthrough_ir")]
        if len(er) and len(ir) and np.abs(er[:, None] - ir[None, :]).min() <= 7:
            both += 1
    assert both > 0.4 * len(members)


def test_refills_include_early_ones_and_gaps(batch: Batch) -> None:
    fills = batch.fills
    same = (fills.person[1:] == fills.person[:-1]) & (fills.product[1:] == fills.product[:-1])
    interval = np.diff(fills.start_day)[same]
    supply = fills.days_supply[:-1][same]
    assert ((interval < supply - 1) & (interval > 0)).mean() > 0.02
    assert (interval > supply + 10).mean() > 0.02


def test_inherited_patients_get_a_new_prescriber(batch: Batch) -> None:
    fills = batch.fills
    new_prescriber = 0
    for person in np.flatnonzero(batch.people.handover_day < np.iinfo(np.int32).max):
        rows = np.flatnonzero(fills.person == person)
        if len(rows) < 2:
            continue
        last = rows[-1]
        earlier = rows[:-1][fills.start_day[rows[:-1]] >= fills.start_day[last] - 180]
        if len(earlier) and fills.prescriber[last] not in set(fills.prescriber[earlier]):
            new_prescriber += 1
    assert new_prescriber > 0.002 * PATIENTS


def test_multi_provider_patients_see_many_prescribers_and_pharmacies(batch: Batch) -> None:
    members = np.flatnonzero(batch.people.archetype == _archetype("multi_provider"))
    many = 0
    for person in members:
        mine = batch.fills.person == person
        many += len(set(batch.fills.prescriber[mine])) >= 4 and len(set(batch.fills.pharmacy[mine])) >= 4
    assert many > 0.6 * len(members)


def test_treatment_and_special_opioids_are_present(batch: Batch) -> None:
    roles = set(_roles(batch))
    assert {"methadone", "oud_buprenorphine", "patch_buprenorphine", "weak_ltot", "acute_ir"} <= roles
    kinds = np.bincount(batch.events.kind, minlength=4)
    assert (kinds > 0).all()  # emergency visits, overdoses, crises and deaths all occur
