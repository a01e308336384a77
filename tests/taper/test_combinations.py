"""Combination products are tapered as themselves: their own strengths, their partner shown and checked.

A plan must never change what the patient takes into another product: co-codamol stays co-codamol (never
plain codeine), Percocet stays oxycodone/acetaminophen, and the paracetamol/acetaminophen each unit holds is
carried in the daily totals and the dispensing lines, checked against its maximum, with the named option of
continuing it plain.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pytest

from taperwise.errors import RequestValidationError
from taperwise.taper import TaperPlan, plan_taper

CO_CODAMOL = {
    "start_date": "2026-12-07",
    "market": "UK",
    "opioid_use_days": 600,
    "regimen": [{"drug": "Co-codamol 30mg/500mg tablets", "dose": 60, "times_per_day": 4}],
}
PERCOCET = "Percocet 10/325"
HYDROCODONE_APAP = "Hydrocodone Bitartrate 10 MG / Acetaminophen 325 MG Oral Tablet"


def _us(drug: str, dose: float = 10, times: int = 4, **fields: Any) -> dict[str, Any]:
    return {
        "start_date": "2026-12-07",
        "market": "US",
        "opioid_use_days": 600,
        "regimen": [{"drug": drug, "dose": dose, "times_per_day": times}],
        **fields,
    }


def _units(plan: TaperPlan) -> list[tuple[str, Decimal, tuple[tuple[str, Decimal], ...]]]:
    return [
        (u.drug, u.strength, tuple((p.ingredient, p.strength) for p in u.partners))
        for s in (plan.baseline, *plan.steps)
        for a in s.administrations
        for u in a.units
    ]


def test_co_codamol_is_tapered_in_co_codamol_strengths_never_plain_codeine() -> None:
    plan = plan_taper(CO_CODAMOL)
    for label, strength, partners in _units(plan):
        assert strength in {8, 15, 30}
        assert partners == (("acetaminophen", 500),)
        assert label == f"codeine {strength} mg / paracetamol 500 mg IR tablet"
    for step in plan.steps:
        for line in (*step.dispense, *(x for part in step.instalments for x in part.dispense)):
            assert [(p.name, p.strength) for p in line.partners] == [("paracetamol", 500)]


def test_the_paracetamol_is_carried_in_every_daily_total_and_never_rises() -> None:
    plan = plan_taper(CO_CODAMOL)
    baseline = plan.baseline.daily_dose["acetaminophen"]
    assert (baseline.amount, baseline.unit, baseline.partner, baseline.name) == (
        4000,
        "mg",
        True,
        "paracetamol",
    )
    totals = plan.daily_totals("acetaminophen")
    assert totals[0] == 4000
    assert totals[-1] == 0
    assert all(a >= b for a, b in itertools.pairwise(totals))
    assert plan.summary["partners"] == [
        {
            "ingredient": "acetaminophen",
            "name": "paracetamol",
            "baseline_daily_mg": 4000,
            "final_daily_mg": 0,
            "max_daily_mg": 4000,
            "max_reason": "",
        }
    ]
    # MME counts the codeine only: 240 mg x 0.15
    assert plan.baseline.daily_mme == Decimal("36.00")


def test_the_plan_says_what_happens_to_the_paracetamol_with_a_named_option() -> None:
    warning = next(w for w in plan_taper(CO_CODAMOL).warnings if w.code == "combination_partner")
    assert warning.severity == "caution"
    assert "paracetamol falls from 4000 mg to 0 mg a day" in warning.message
    assert "continue plain paracetamol, at most 4000 mg a day" in warning.message
    assert "never added without that choice" in warning.message
    assert warning.steps  # the steps where it falls


def test_a_dose_never_takes_more_units_so_the_partner_never_rises_at_any_administration() -> None:
    plan = plan_taper(CO_CODAMOL)
    previous = {a.time: a for a in plan.baseline.administrations}
    for step in plan.steps:
        for admin in step.administrations:
            before = previous.get(admin.time)
            if before is not None:
                assert sum(u.count for u in admin.units) <= sum(u.count for u in before.units)
        previous = {a.time: a for a in step.administrations}


def test_percocet_stays_oxycodone_with_acetaminophen() -> None:
    plan = plan_taper(_us(PERCOCET))
    assert {label.split(" / ")[1] for label, _, _ in _units(plan)} == {"acetaminophen 325 mg IR tablet"}
    assert {strength for _, strength, _ in _units(plan)} <= {Decimal("2.5"), 5, Decimal("7.5"), 10}
    assert "oxycodone" in plan.baseline.daily_dose
    assert plan.baseline.daily_dose["acetaminophen"].amount == 1300


def test_hydrocodone_with_acetaminophen_is_planned_in_its_marketed_strengths() -> None:
    plan = plan_taper(
        _us(HYDROCODONE_APAP)
    )  # once refused: "no marketed strengths ... hydrocodone IR tablet"
    assert {strength for _, strength, _ in _units(plan)} <= {5, Decimal("7.5"), 10}
    assert plan.steps[-1].daily_mme == 0
    assert {p for _, _, partners in _units(plan) for p in partners} == {("acetaminophen", 325)}


def test_a_baseline_above_the_paracetamol_maximum_requires_review() -> None:
    plan = plan_taper({**CO_CODAMOL, "patient_factors": {"weight_kg": 45}})  # 8 tablets: 4 g a day
    warning = next(w for w in plan.warnings if w.code == "partner_above_maximum")
    assert warning.severity == "requires_review"
    assert "maximum of 3000 mg a day for this patient (a body weight under 50 kg)" in warning.message
    assert "baseline 4000 mg, step 1 3500 mg" in warning.message  # whole tablets dropped first
    assert plan.review_required
    assert plan.summary["partners"][0]["max_daily_mg"] == 3000


@pytest.mark.parametrize(
    ("factors", "maximum", "why"),
    [
        ({}, 4000, ""),
        ({"liver_disease": True}, 3000, "liver disease"),
        ({"weight_kg": 40}, 2000, "40 kg or less"),
        ({"weight_kg": 49.5}, 3000, "under 50 kg"),
        ({"weight_kg": 50}, 4000, ""),
    ],
)
def test_the_paracetamol_maximum_follows_the_patient(factors: dict[str, Any], maximum: int, why: str) -> None:
    plan = plan_taper({**CO_CODAMOL, "patient_factors": factors})
    summary = plan.summary["partners"][0]
    assert summary["max_daily_mg"] == maximum
    assert why in summary["max_reason"]
    above = [w for w in plan.warnings if w.code == "partner_above_maximum"]
    assert bool(above) == (maximum < 4000)
    if above:  # checked at every step, not only the baseline
        assert list(above[0].steps) == [
            s.number for s in plan.steps if s.daily_dose["acetaminophen"].amount > maximum
        ]


def test_a_structured_product_must_not_drop_the_partner_of_its_text() -> None:
    plain_codeine = {
        "ingredient": "codeine",
        "unit": "mg",
        "route": "oral",
        "release": "IR",
        "dose_form": "tablet",
    }
    raw = {**CO_CODAMOL, "regimen": [{**CO_CODAMOL["regimen"][0], "product": plain_codeine}]}
    with pytest.raises(RequestValidationError) as caught:
        plan_taper(raw)
    assert caught.value.field == "regimen[0].product.partners"
    assert "acetaminophen 500 mg" in caught.value.problem


def test_a_structured_combination_product_is_tapered_as_a_combination() -> None:
    product = {
        "ingredient": "codeine",
        "unit": "mg",
        "route": "oral",
        "release": "IR",
        "dose_form": "tablet",
        "strength": 30,
        "partners": [{"ingredient": "acetaminophen", "strength": 500}],
    }
    raw = {
        **CO_CODAMOL,
        "regimen": [
            {"drug": "codeine 30 / para 500 as written", "dose": 60, "times_per_day": 4, "product": product}
        ],
    }
    plan = plan_taper(raw)
    assert {p for _, _, partners in _units(plan) for p in partners} == {("acetaminophen", 500)}
    assert {s for _, s, _ in _units(plan)} <= {8, 15, 30}


def test_given_strengths_of_a_combination_keep_its_partner_and_say_so() -> None:
    raw = {**CO_CODAMOL, "regimen": [{**CO_CODAMOL["regimen"][0], "strengths": [15, 30]}]}
    plan = plan_taper(raw)
    assert {s for _, s, _ in _units(plan)} <= {15, 30}
    assert {p for _, _, partners in _units(plan) for p in partners} == {("acetaminophen", 500)}
    assert any("assumed the same in every strength given" in a for a in plan.summary["assumptions"])


def test_a_combination_liquid_is_refused_saying_why() -> None:
    raw = _us("Acetaminophen 120 MG / Codeine Phosphate 12 MG per 5 ML Oral Solution", 12, 4)
    with pytest.raises(RequestValidationError) as caught:
        plan_taper(raw)
    assert caught.value.field == "regimen[0].drug"
    assert "never changed without a word" in caught.value.problem or "not a tablet" in caught.value.problem


def test_the_baseline_is_made_of_the_patients_own_tablets() -> None:
    # two 5/325 tablets four times a day are 2600 mg of acetaminophen, not one 10/325 (1300 mg)
    raw = _us(
        "Hydrocodone Bitartrate 5 MG / Acetaminophen 325 MG Oral Tablet",
        10,
        4,
        patient_factors={"weight_kg": 38},
    )
    plan = plan_taper(raw)
    assert [(u.strength, u.count) for u in plan.baseline.administrations[0].units] == [(5, 2)]
    assert plan.baseline.daily_dose["acetaminophen"].amount == 2600
    above = next(w for w in plan.warnings if w.code == "partner_above_maximum")
    assert "maximum of 2000 mg a day" in above.message
    # whole tablets are dropped first, so the maximum is reached as soon as the pace allows
    totals = plan.daily_totals("acetaminophen")
    assert totals[:3] == [2600, 1950, 1300]


def test_two_co_codamol_15_500_stay_two_tablets() -> None:
    raw = {
        **CO_CODAMOL,
        "regimen": [{"drug": "Co-codamol 15mg/500mg tablets", "dose": 30, "times_per_day": 4}],
    }
    plan = plan_taper(raw)
    assert [(u.strength, u.count) for u in plan.baseline.administrations[0].units] == [(15, 2)]
    assert plan.baseline.daily_dose["acetaminophen"].amount == 4000


def test_a_hold_says_nothing_new_about_the_partner() -> None:
    plan = plan_taper({**CO_CODAMOL, "patient_factors": {"pregnant": True}})
    assert [s.kind for s in plan.steps] == ["hold"]
    assert "combination_partner" not in plan.warning_codes()
