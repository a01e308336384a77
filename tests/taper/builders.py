"""Builders for taper requests, so each test states only what it is about."""

from __future__ import annotations

from typing import Any

MORPHINE_ER = "12 HR Morphine Sulfate 30 MG Extended Release Oral Tablet"
FENTANYL_25 = "72 HR Fentanyl 0.025 MG/HR Transdermal System"
OXYCODONE_IR = "Oxycodone Hydrochloride 5 MG Oral Tablet"
METHADONE = "Methadone Hydrochloride 10 MG Oral Tablet"
PATCH_STRENGTHS = [12, 25, 37.5, 50, 62.5, 75, 87.5, 100]


def request(*regimen: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A taper request: 1500 days of use, discontinue, starting 2025-01-06, unless the test says otherwise."""
    return {
        "start_date": "2025-01-06",
        "regimen": list(regimen),
        "opioid_use_days": 1500,
        "goal": {"type": "discontinue"},
        **fields,
    }


def morphine_er(dose: float = 90, times: int = 3, strengths: list[float] | None = None) -> dict[str, Any]:
    return {"drug": MORPHINE_ER, "dose": dose, "times_per_day": times, "strengths": strengths or [15, 30, 60]}


def fentanyl(dose: float = 100, strengths: list[float] | None = None) -> dict[str, Any]:
    return {"drug": FENTANYL_25, "dose": dose, "strengths": strengths or PATCH_STRENGTHS}


ORAMORPH = "Oramorph 10mg/5ml oral solution"
MORPHINE_SOLUTION = "Morphine sulfate 10mg/5ml oral solution"
OXYCODONE_SOLUTION = "Oxycodone Hydrochloride 1 MG/ML Oral Solution"
MONTHLY_10 = {"reduction": 10, "unit": "percent_of_original", "every_days": 28}


def oxycodone_ir(dose: float = 5, times: int = 2) -> dict[str, Any]:
    return {"drug": OXYCODONE_IR, "dose": dose, "times_per_day": times, "strengths": [5]}


def liquid(drug: str = ORAMORPH, dose: float = 10, times: int = 4) -> dict[str, Any]:
    return {"drug": drug, "dose": dose, "times_per_day": times}
