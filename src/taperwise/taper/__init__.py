"""The taper plan engine: regimen -> individualised, guideline-bounded schedule in real tablets and patches.

Pure functions, no I/O (the rules are packaged data, read once). Start with :func:`plan_taper` and
:func:`adapt_plan`; see docs/taper.md.
"""

from taperwise.taper.adapt import Decision, adapt_plan, decide
from taperwise.taper.engine import plan_taper
from taperwise.taper.followup import FollowUp, SpecialistReview
from taperwise.taper.plan import (
    Administration,
    DispenseLine,
    FollowUpVisit,
    Instalment,
    Step,
    StepChange,
    TaperPlan,
    UnitLine,
    Warning,
)
from taperwise.taper.request import (
    ClinicianReason,
    Goal,
    Pace,
    PatientFactors,
    ProductSpec,
    RegimenItem,
    TaperRequest,
)

__all__ = [
    "Administration",
    "ClinicianReason",
    "Decision",
    "DispenseLine",
    "FollowUp",
    "FollowUpVisit",
    "Goal",
    "Instalment",
    "Pace",
    "PatientFactors",
    "ProductSpec",
    "RegimenItem",
    "SpecialistReview",
    "Step",
    "StepChange",
    "TaperPlan",
    "TaperRequest",
    "UnitLine",
    "Warning",
    "adapt_plan",
    "decide",
    "plan_taper",
]
