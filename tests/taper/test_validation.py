"""Missing or contradictory fields fail with an error naming the field (RequestValidationError.field)."""

from __future__ import annotations

from typing import Any

import pytest

from taperwise.errors import RequestValidationError
from taperwise.taper import plan_taper
from tests.taper.builders import FENTANYL_25, fentanyl, morphine_er, request


def _field_of(raw: dict[str, Any]) -> str:
    with pytest.raises(RequestValidationError) as caught:
        plan_taper(raw)
    return caught.value.field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: r.pop("start_date"), "start_date"),
        (lambda r: r.pop("opioid_use_days"), "opioid_use_days"),
        (lambda r: r.update(regimen=[]), "regimen"),
        (lambda r: r["regimen"][1].pop("dose"), "regimen[1].dose"),
        (lambda r: r["regimen"][1].update(dose=-5), "regimen[1].dose"),
        (lambda r: r["regimen"][1].update(doses=[90, 75, 90]), "regimen[1].doses"),
        (lambda r: r["regimen"][1].update(dose=100), "regimen[1].dose"),
        (lambda r: r["regimen"][0].update(times_per_day=2), "regimen[0].doses"),
        (lambda r: r["regimen"][1].update(strengths=[]), "regimen[1].strengths"),
        (lambda r: r["regimen"][1].update(dosage=1), "regimen[1].dosage"),
        (lambda r: r.update(goal={"type": "target_daily_mme"}), "goal.value"),
        (lambda r: r.update(goal={"type": "taper_a_bit"}), "goal.type"),
        (lambda r: r.update(goal={"type": "discontinue", "value": 50}), "goal.value"),
        (lambda r: r.update(pace={"reduction": 10, "unit": "percent", "every_days": 28}), "pace.unit"),
        (lambda r: r.update(pace={"reduction": 10, "unit": "absolute", "every_days": 0}), "pace.every_days"),
        (lambda r: r.update(pace={"reduction": 10, "unit": "absolute", "every_days": 28}), "pace.unit"),
        (
            lambda r: r.update(pace={"reduction": 150, "unit": "percent_of_current", "every_days": 28}),
            "pace.reduction",
        ),
        (lambda r: r.update(patient_factors={"suicide_risks": True}), "patient_factors.suicide_risks"),
        (lambda r: r.update(patient_factors={"pregnant": "no"}), "patient_factors.pregnant"),
        (lambda r: r.update(patient_factors={"phq9_item9": 4}), "patient_factors.phq9_item9"),
        (lambda r: r.update(first_to_taper=5), "first_to_taper"),
        (lambda r: r.update(start_date="06/01/2025"), "start_date"),
        (lambda r: r["regimen"][1].update(drug="Ibuprofen 400 MG Oral Tablet"), "regimen[1].drug"),
    ],
)
def test_a_bad_request_names_the_field(change: Any, field: str) -> None:
    raw = request(fentanyl(25), morphine_er())
    change(raw)
    assert _field_of(raw) == field


def test_unequal_doses_are_given_as_doses() -> None:
    raw = request({"drug": morphine_er()["drug"], "doses": [90, 75, 90], "strengths": [15, 30, 60]})
    assert plan_taper(raw).daily_totals("morphine")[0] == 255


def test_buprenorphine_is_refused_with_a_reason() -> None:
    raw = request(
        {"drug": "Buprenorphine 0.02 MG/HR Transdermal System", "dose": 20, "strengths": [5, 10, 20]}
    )
    with pytest.raises(RequestValidationError) as caught:
        plan_taper(raw)
    assert caught.value.field == "regimen[0].drug"


def test_product_fields_contradicting_the_text_are_refused() -> None:
    product = {
        "ingredient": "oxycodone",
        "unit": "mcg/hr",
        "route": "transdermal",
        "release": "ER",
        "dose_form": "patch",
        "wear_hours": 72,
    }
    raw = request({"drug": FENTANYL_25, "dose": 25, "product": product})
    assert _field_of(raw) == "regimen[0].product.ingredient"


# Very long or hostile requests: a clear error naming the field, never a traceback ----------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: r.update(regimen=[morphine_er()] * 21), "regimen"),
        (lambda r: r["regimen"][1].update(dose=1e308), "regimen[1].dose"),
        (lambda r: r["regimen"][1].update(dose=float("inf")), "regimen[1].dose"),
        (lambda r: r["regimen"][1].update(dose=float("nan")), "regimen[1].dose"),
        (lambda r: r["regimen"][1].update(times_per_day=10**12), "regimen[1].times_per_day"),
        (lambda r: r["regimen"][1].update(strengths=[1e-300, 15]), "regimen[1].strengths[0]"),
        (lambda r: r["regimen"][1].update(strengths=list(range(1, 40))), "regimen[1].strengths"),
        (lambda r: r["regimen"][0].update(dose=5000), "regimen[0].dose"),  # a patch of 5000 mcg/hr
        (lambda r: r["regimen"][1].update(drug="x" * 10_000), "regimen[1].drug"),
        (
            lambda r: r.update(pace={"reduction": 10, "unit": "absolute", "every_days": 10**18}),
            "pace.every_days",
        ),
        (
            lambda r: r.update(pace={"reduction": 1e308, "unit": "absolute", "every_days": 28}),
            "pace.reduction",
        ),
        (lambda r: r.update(start_date="9999-12-31"), "start_date"),
        (lambda r: r.update(opioid_use_days=10**18), "opioid_use_days"),
        (lambda r: r.update(goal={"type": "target_daily_mme", "value": 1e308}), "goal.value"),
        (lambda r: r.update(patient_factors={"weight_kg": 2}), "patient_factors.weight_kg"),
        (lambda r: r.update(max_days_per_dispense=365), "max_days_per_dispense"),
        (lambda r: r.update(setting="home"), "setting"),
        (lambda r: r["regimen"][1].update(units_per_box=10**9), "regimen[1].units_per_box"),
        (
            lambda r: r.update(pace={"reduction": 1, "unit": "percent_of_current", "every_days": 365}),
            "pace",
        ),  # a plan of decades
    ],
)
def test_an_overflowing_or_absurd_value_is_refused_naming_the_field(change: Any, field: str) -> None:
    raw = request(fentanyl(25), morphine_er())
    change(raw)
    assert _field_of(raw) == field


def test_a_deeply_nested_pace_is_refused() -> None:
    pace: dict[str, Any] = {"reduction": 10, "unit": "percent_of_original", "every_days": 28}
    for _ in range(50):
        pace = {**pace, "until_percent_of_original": 50, "then": dict(pace)}
    assert _field_of(request(morphine_er(), pace=pace)).endswith(".then")


def test_an_error_never_echoes_a_huge_value() -> None:
    with pytest.raises(RequestValidationError) as caught:
        plan_taper(request({"drug": morphine_er()["drug"], "dose": "9" * 5000}))
    assert len(str(caught.value)) < 200
