"""What a follow-up visit records, read strictly (unknown fields refused, every error naming its field).

Besides the scores and the patient's preference, a follow-up can carry two decisions that only a named
person takes: the specialist's review that ends a referral hold (`specialist_review`: who, when, what),
and the clinician's choice to return to the previous step's dose (`return_to_previous_dose`: who, why).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from taperwise.errors import RequestValidationError
from taperwise.taper.jsonvalues import (
    check_keys,
    optional_int,
    read_bool,
    read_date,
    read_decimal,
    read_int,
    read_text,
    require,
    to_json_number,
)
from taperwise.taper.regimen import MAX_ADMINISTRATIONS
from taperwise.taper.request import ClinicianReason
from taperwise.taper.rules import load_rules

PREFERENCES = ("continue", "pause", "slow")
REVIEW_DECISIONS = ("resume", "slow", "hold")


@dataclass(frozen=True)
class SpecialistReview:
    """The specialist's review of a referral: who (`by`), on what date, and the decision: resume the
    taper at the agreed pace, resume it at half the rate (slow), or keep holding the dose."""

    by: str
    date: date
    decision: str
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"by": self.by, "date": self.date.isoformat(), "decision": self.decision}
        if self.note:
            out["note"] = self.note
        return out

    @classmethod
    def from_dict(cls, raw: Any, path: str = "follow_up.specialist_review") -> SpecialistReview:
        check_keys(raw, {"by", "date", "decision", "note"}, path)
        limits = load_rules().limits
        decision = require(raw, "decision", path)
        if decision not in REVIEW_DECISIONS:
            raise RequestValidationError(f"{path}.decision", f"must be one of {', '.join(REVIEW_DECISIONS)}")
        return cls(
            by=read_text(require(raw, "by", path), f"{path}.by", max_length=limits.max_text),
            date=read_date(
                require(raw, "date", path),
                f"{path}.date",
                earliest=limits.earliest_date,
                latest=limits.latest_date,
            ),
            decision=str(decision),
            note=read_text(raw.get("note"), f"{path}.note", max_length=limits.max_note, required=False),
        )


@dataclass(frozen=True)
class FollowUp:
    """What a follow-up visit recorded. `doses_taken` maps a regimen index to the doses per administration
    actually taken (an empty list: stopped); a drug not listed was taken as planned."""

    date: date
    doses_taken: dict[int, tuple[Decimal, ...]]
    cows: int | None = None
    sows: int | None = None
    peg: Decimal | None = None
    phq9_item9: int | None = None
    oud_signs: bool = False
    preference: str = "continue"
    note: str = ""
    specialist_review: SpecialistReview | None = None
    return_to_previous_dose: ClinicianReason | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "date": self.date.isoformat(),
            "doses_taken": [
                {"regimen_index": i, "doses": [to_json_number(d) for d in doses]}
                for i, doses in sorted(self.doses_taken.items())
            ],
            "oud_signs": self.oud_signs,
            "preference": self.preference,
        }
        for name in ("cows", "sows", "phq9_item9"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.peg is not None:
            out["peg"] = to_json_number(self.peg)
        if self.note:
            out["note"] = self.note
        if self.specialist_review is not None:
            out["specialist_review"] = self.specialist_review.to_dict()
        if self.return_to_previous_dose is not None:
            out["return_to_previous_dose"] = self.return_to_previous_dose.to_dict()
        return out

    @classmethod
    def from_dict(cls, raw: Any) -> FollowUp:
        keys = {"date", "doses_taken", "cows", "sows", "peg", "phq9_item9", "oud_signs", "preference", "note"}
        check_keys(raw, keys | {"specialist_review", "return_to_previous_dose"}, "follow_up")
        limits = load_rules().limits
        preference = raw.get("preference", "continue")
        if preference not in PREFERENCES:
            raise RequestValidationError("follow_up.preference", f"must be one of {', '.join(PREFERENCES)}")
        visit = read_date(
            require(raw, "date", "follow_up"),
            "follow_up.date",
            earliest=limits.earliest_date,
            latest=limits.latest_date,
        )
        review = raw.get("specialist_review")
        back = raw.get("return_to_previous_dose")
        follow_up = cls(
            date=visit,
            doses_taken=_read_taken(raw.get("doses_taken") or []),
            cows=optional_int(raw, "cows", "follow_up", minimum=0, maximum=48),
            sows=optional_int(raw, "sows", "follow_up", minimum=0, maximum=64),
            peg=read_decimal(raw["peg"], "follow_up.peg", maximum=Decimal(10))
            if raw.get("peg") is not None
            else None,
            phq9_item9=optional_int(raw, "phq9_item9", "follow_up", minimum=0, maximum=3),
            oud_signs=read_bool(raw.get("oud_signs", False), "follow_up.oud_signs"),
            preference=preference,
            note=_read_note(raw.get("note"), limits.max_note),
            specialist_review=SpecialistReview.from_dict(review) if review is not None else None,
            return_to_previous_dose=(
                ClinicianReason.from_dict(back, "follow_up.return_to_previous_dose")
                if back is not None
                else None
            ),
        )
        if follow_up.specialist_review is not None and follow_up.specialist_review.date > visit:
            raise RequestValidationError(
                "follow_up.specialist_review.date", "is after the follow-up that records it"
            )
        return follow_up


def _read_note(value: Any, limit: int) -> str:
    if value is not None and not isinstance(value, str):
        raise RequestValidationError("follow_up.note", "must be text")
    if value is not None and len(value) > limit:
        raise RequestValidationError("follow_up.note", f"must be at most {limit} characters")
    return value or ""


def _read_taken(raw: Any) -> dict[int, tuple[Decimal, ...]]:
    if not isinstance(raw, list) or len(raw) > load_rules().limits.max_regimen_items:
        raise RequestValidationError("follow_up.doses_taken", "must be a list of {regimen_index, doses}")
    taken: dict[int, tuple[Decimal, ...]] = {}
    for i, entry in enumerate(raw):
        path = f"follow_up.doses_taken[{i}]"
        check_keys(entry, {"regimen_index", "doses"}, path)
        index = read_int(require(entry, "regimen_index", path), f"{path}.regimen_index", minimum=0)
        if index in taken:
            raise RequestValidationError(
                f"{path}.regimen_index", f"regimen index {index} is listed twice: give each drug once"
            )
        doses = require(entry, "doses", path)
        if not isinstance(doses, list) or len(doses) > MAX_ADMINISTRATIONS:
            raise RequestValidationError(f"{path}.doses", "must be a list of doses per administration")
        taken[index] = tuple(
            read_decimal(d, f"{path}.doses[{j}]", positive=True, maximum=Decimal(2000))
            for j, d in enumerate(doses)
        )
    return taken
