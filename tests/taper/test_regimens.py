"""Beyond tablets and patches: oral liquids, as-needed drugs, products the engine refuses, markets."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from taperwise.errors import RequestValidationError
from taperwise.taper import TaperPlan, adapt_plan, plan_taper
from tests.taper.builders import (
    FENTANYL_25,
    MONTHLY_10,
    MORPHINE_ER,
    MORPHINE_SOLUTION,
    ORAMORPH,
    OXYCODONE_IR,
    OXYCODONE_SOLUTION,
    fentanyl,
    liquid,
    morphine_er,
    request,
)


def _refusal(raw: dict[str, Any]) -> RequestValidationError:
    with pytest.raises(RequestValidationError) as caught:
        plan_taper(raw)
    return caught.value


# Oral liquids ----------------------------------------------------------------------------------------


def test_a_liquid_plan_shows_the_millilitres_of_each_administration() -> None:
    plan = plan_taper(request(liquid(ORAMORPH, 10, 4), pace=MONTHLY_10, market="UK"))
    first = plan.steps[0].administrations
    assert [(a.dose, a.volume_ml, a.unit) for a in first] == [(Decimal(9), Decimal("4.5"), "mg")] * 4
    assert "4.5 mL of 2 mg/mL" in plan.summary_text()
    for step in plan.steps:
        for admin in step.administrations:
            assert admin.volume_ml is not None
            assert admin.volume_ml * 2 == admin.dose  # 10 mg/5 mL is 2 mg/mL, never another concentration
            assert (admin.volume_ml / Decimal("0.5")) % 1 == 0  # whole 0.5 mL oral-syringe measures
            assert [u.strength for u in admin.units] == [Decimal(2)]


def test_a_liquid_taper_goes_finer_than_tablets() -> None:
    syrup = plan_taper(request(liquid(MORPHINE_SOLUTION, 10, 4), pace=MONTHLY_10))
    reductions = [s for s in syrup.steps if s.kind == "reduction"]
    assert all(s.achieved_reduction == s.requested_reduction == 4 for s in reductions)
    tablets = plan_taper(
        request({"drug": OXYCODONE_IR, "dose": 10, "times_per_day": 4, "strengths": [5, 10]}, pace=MONTHLY_10)
    )
    assert tablets.steps[0].achieved_reduction != tablets.steps[0].requested_reduction


def test_a_liquid_is_dispensed_in_whole_bottles_of_its_market() -> None:
    # 4.5 mL twice a day for 28 days is 252 mL: two 250 mL bottles in the UK, one 500 mL bottle in the US
    uk = plan_taper(request(liquid(OXYCODONE_SOLUTION, 5, 2), pace=MONTHLY_10, market="UK"))
    us = plan_taper(request(liquid(OXYCODONE_SOLUTION, 5, 2), pace=MONTHLY_10, market="US"))
    uk_line, us_line = uk.steps[0].dispense[0], us.steps[0].dispense[0]
    assert (uk_line.quantity, uk_line.quantity_unit, uk_line.bottles) == (500, "mL", ((250, 2),))
    assert (us_line.quantity, us_line.bottles) == (500, ((500, 1),))


def test_whole_bottles_leave_the_least_over_then_use_the_fewest_bottles() -> None:
    plan = plan_taper(request(liquid(ORAMORPH, 10, 4), pace=MONTHLY_10, market="UK"))
    line = plan.steps[0].dispense[0]  # 4.5 mL x 4 x 28 days = 504 mL
    assert (line.quantity, line.bottles) == (600, ((500, 1), (100, 1)))


def test_a_liquid_without_known_bottle_sizes_is_dispensed_in_exact_millilitres() -> None:
    plan = plan_taper(
        request(liquid("Morphine Sulfate 20 MG/5ML Oral Solution", 8, 2), pace=MONTHLY_10, market="UK")
    )
    line = plan.steps[0].dispense[0]
    assert line.bottles == ()
    # 16 -> 14 mg/day of 4 mg/mL: 1.5 mL in the morning and 2 mL in the evening, 3.5 mL a day; a 2 mg step
    # where 1.6 was asked earns 35 days, supplied in UK instalments of 18 and 17 days (63 + 60 mL)
    assert [a.volume_ml for a in plan.steps[0].administrations] == [Decimal("1.5"), Decimal(2)]
    assert plan.steps[0].days == 35
    assert [(i.days, i.dispense[0].quantity) for i in plan.steps[0].instalments] == [(18, 63), (17, 60)]
    assert line.quantity == 123
    assert "bottles unknown" in " ".join(plan.summary["assumptions"])


def test_a_liquid_dose_that_cannot_be_measured_is_refused_naming_the_field() -> None:
    error = _refusal(request(liquid(MORPHINE_SOLUTION, 5.5, 2)))
    assert error.field == "regimen[0].dose"
    assert "0.5 mL" in error.problem


def test_a_liquid_keeps_its_own_concentration() -> None:
    error = _refusal(request({**liquid(MORPHINE_SOLUTION, 10, 2), "strengths": [4]}))
    assert error.field == "regimen[0].strengths"
    same = plan_taper(request({**liquid(MORPHINE_SOLUTION, 10, 2), "strengths": [2]}))
    assert same.steps[0].administrations[0].units[0].strength == Decimal(2)


def test_a_liquid_plan_carries_the_measuring_advice_and_round_trips() -> None:
    plan = plan_taper(request(liquid(ORAMORPH, 10, 4)))
    assert next(w for w in plan.warnings if w.code == "liquid_measure").severity == "info"
    again = TaperPlan.from_dict(json.loads(plan.to_json()))
    assert again.to_dict() == plan.to_dict()


def test_a_liquid_follow_up_must_report_measurable_doses() -> None:
    plan = plan_taper(request(liquid(ORAMORPH, 10, 4)))
    taken = adapt_plan(
        plan, {"date": "2025-02-03", "doses_taken": [{"regimen_index": 0, "doses": [8, 8, 9, 9]}]}
    )
    assert taken.baseline.administrations[0].volume_ml == Decimal(4)
    with pytest.raises(RequestValidationError) as caught:
        adapt_plan(
            plan, {"date": "2025-02-03", "doses_taken": [{"regimen_index": 0, "doses": [8.3, 9, 9, 9]}]}
        )
    assert "0.5 mL" in caught.value.problem


# As-needed (PRN) regimens -----------------------------------------------------------------------------


def test_an_as_needed_drug_without_a_scheduled_equivalent_is_refused_saying_what_to_do() -> None:
    error = _refusal(request({"drug": OXYCODONE_IR, "dose": 5, "times_per_day": 4, "as_needed": True}))
    assert error.field == "regimen[0].scheduled_equivalent"
    assert "scheduled_equivalent" in error.problem
    assert "doses actually taken" in error.problem


def test_as_needed_words_in_the_product_text_are_refused_saying_what_to_do() -> None:
    error = _refusal(request({"drug": f"{OXYCODONE_IR} PRN", "dose": 5}))
    assert error.field == "regimen[0].drug"
    assert '"as_needed": true' in error.problem
    assert "scheduled_equivalent" in error.problem


def test_an_as_needed_drug_is_tapered_from_its_scheduled_equivalent() -> None:
    item = {
        "drug": OXYCODONE_IR,
        "dose": 5,
        "times_per_day": 4,
        "as_needed": True,
        "scheduled_equivalent": {"dose": 5, "times_per_day": 3},
        "strengths": [5],
    }
    plan = plan_taper(request(item, pace=MONTHLY_10))
    assert plan.baseline.daily_dose["oxycodone"].amount == 15
    warning = next(w for w in plan.warnings if w.code == "as_needed_scheduled")
    assert "up to 20 mg/day" in warning.message
    assert TaperPlan.from_dict(json.loads(plan.to_json())).request == plan.request


def test_a_scheduled_equivalent_above_the_as_needed_maximum_is_refused() -> None:
    item = {"drug": OXYCODONE_IR, "dose": 5, "times_per_day": 2, "as_needed": True}
    error = _refusal(request({**item, "scheduled_equivalent": {"dose": 5, "times_per_day": 3}}))
    assert error.field == "regimen[0].scheduled_equivalent"
    assert "never increases" in error.problem
    error = _refusal(request({"drug": OXYCODONE_IR, "dose": 5, "scheduled_equivalent": {"dose": 5}}))
    assert error.field == "regimen[0].scheduled_equivalent"


# Products the engine does not taper ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("drug", "reason"),
    [
        ("Fentanyl 100 MCG Buccal Tablet", "breakthrough pain"),
        ("Fentanyl 200 MCG Sublingual Tablet", "breakthrough pain"),
        ("Fentanyl 200 MCG Oral Lozenge", "breakthrough pain"),
        ("Fentanyl 100 MCG/ACTUAT Nasal Spray", "breakthrough pain"),
        ("Buprenorphine 8 MG Sublingual Tablet", "partial agonist"),
        ("Buprenorphine 0.02 MG/HR Transdermal System", "partial agonist"),
        ("Buprenorphine 75 MCG Buccal Film", "partial agonist"),
        ("Morphine 10 MG Rectal Suppository", "oral tablets, capsules and liquids"),
    ],
)
def test_refused_products_name_the_reason_and_what_to_do(drug: str, reason: str) -> None:
    error = _refusal(request(morphine_er(), {"drug": drug, "dose": 1}))
    assert error.field == "regimen[1].drug"
    assert reason in error.problem
    assert "out of 'regimen'" in error.problem  # says how to plan the rest of the regimen
    assert "specialist" in error.problem or "prescriber" in error.problem


def test_buprenorphine_is_never_tapered_by_mme() -> None:
    error = _refusal(request({"drug": "Buprenorphine 8 MG Sublingual Tablet", "dose": 8}))
    assert "not tapered" in error.problem
    assert "no MME factor" in error.problem
    assert "opioid use disorder" in error.problem


# Markets ---------------------------------------------------------------------------------------------


def test_a_uk_plan_uses_only_uk_patch_strengths() -> None:
    uk = plan_taper(request({"drug": FENTANYL_25, "dose": 100}, pace=MONTHLY_10, market="UK"))
    us = plan_taper(request({"drug": FENTANYL_25, "dose": 100}, pace=MONTHLY_10, market="US"))
    uk_strengths = {u.strength for s in uk.steps for a in s.administrations for u in a.units}
    us_strengths = {u.strength for s in us.steps for a in s.administrations for u in a.units}
    assert not uk_strengths & {Decimal("37.5"), Decimal("62.5"), Decimal("87.5")}
    assert Decimal("87.5") in us_strengths
    assert "market: UK" in " ".join(uk.summary["assumptions"])


def test_a_strength_sold_only_in_the_other_market_is_refused() -> None:
    item = {"drug": MORPHINE_ER, "dose": 10, "times_per_day": 2}
    assert plan_taper(request(item, market="UK")).baseline.daily_dose["morphine"].amount == 20
    error = _refusal(request(item, market="US"))
    assert error.field == "regimen[0].dose"
    assert "15, 30, 60, 100, 200 mg" in error.problem


def test_without_a_market_both_markets_strengths_are_offered_and_said_so() -> None:
    plan = plan_taper(request({"drug": MORPHINE_ER, "dose": 10, "times_per_day": 2}))
    assert "US and UK" in " ".join(plan.summary["assumptions"])
    assert _refusal(request(morphine_er(), market="FR")).field == "market"


def test_patch_market_choice_is_kept_when_a_plan_is_adapted() -> None:
    plan = plan_taper(request(fentanyl(50, strengths=None) | {"strengths": [12, 25, 50]}, market="UK"))
    adapted = adapt_plan(plan, {"date": "2025-02-03"})
    assert adapted.request.market == "UK"


# Strengths the market does not sell, simple doses, instalments ------------------------------------------


def test_a_requested_strength_not_marketed_in_the_market_gets_a_caution() -> None:
    oxycontin = {
        "drug": "Oxycodone HCl 10 MG 12 HR Extended Release Oral Tablet",
        "dose": 30,
        "times_per_day": 2,
        "strengths": [7.5, 10, 20],
    }
    plan = plan_taper(request(oxycontin, pace=MONTHLY_10, market="UK"))
    caution = next(w for w in plan.warnings if w.code == "strength_not_marketed")
    assert caution.severity == "caution"
    assert "7.5 mg" in caution.message
    assert "in the UK market" in caution.message
    marketed = plan_taper(request({**oxycontin, "strengths": [10, 20]}, pace=MONTHLY_10, market="UK"))
    assert "strength_not_marketed" not in marketed.warning_codes()


def test_a_finer_step_needing_more_units_than_a_simple_dose_is_shown_with_its_cost() -> None:
    item = {**morphine_er(115, 1, [5, 10, 100])}
    pace = {"reduction": 5, "unit": "absolute", "every_days": 28}
    plan = plan_taper(request(item, pace=pace))
    note = next(w for w in plan.warnings if w.code == "simple_regimen")
    assert "95 mg (9 x 10 + 1 x 5 mg)" in note.message
    assert "at most 2 strengths and 4 units" in note.message
    assert "regimen[0].max_units_per_dose" in note.message
    allowed = plan_taper(request({**item, "max_units_per_dose": 10}, pace=pace))
    assert "simple_regimen" not in allowed.warning_codes()
    assert Decimal(95) in {a.dose for s in allowed.steps for a in s.administrations}


def test_a_long_step_is_dispensed_in_instalments_within_the_markets_limit() -> None:
    plan = plan_taper(
        request(morphine_er(), pace={"reduction": 5, "unit": "absolute", "every_days": 28}, market="UK")
    )
    first = plan.steps[0]
    assert first.days == 84
    parts = [(p.start_date.isoformat(), p.end_date.isoformat(), p.days) for p in first.instalments]
    assert parts == [
        ("2025-01-06", "2025-02-02", 28),
        ("2025-02-03", "2025-03-02", 28),
        ("2025-03-03", "2025-03-30", 28),
    ]
    us = plan_taper(
        request(morphine_er(), pace={"reduction": 5, "unit": "absolute", "every_days": 28}, market="US")
    )
    assert [p.days for p in us.steps[0].instalments] == [28, 28, 28]
    local = plan_taper(
        request(
            morphine_er(),
            pace={"reduction": 5, "unit": "absolute", "every_days": 28},
            max_days_per_dispense=14,
        )
    )
    assert [p.days for p in local.steps[0].instalments] == [14] * 6
    assert any("instalments of at most 14 days (as requested)" in a for a in local.summary["assumptions"])
