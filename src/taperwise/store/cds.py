"""The clinical store's side of the CDS Hooks services: what taperwise knows of the patient an EHR asks
about, the cards returned, the feedback received, and the override report.

An EHR is not a user: its calls are audited under the issuer's name (``ehr:<iss>``), in the organisation
its issuer is configured for (docs/cds-hooks.md). A patient is found by the FHIR id the EHR sends, which is
the registry's patient id when the registry was ingested from that EHR's FHIR export.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from taperwise.errors import RequestValidationError
from taperwise.store.access import organisation_ids
from taperwise.store.audit import record_audit
from taperwise.store.models import (
    CdsCard,
    CdsFeedback,
    Organisation,
    Patient,
    ReviewStatus,
    TaperPlanRecord,
    User,
)
from taperwise.store.security import clean_text, printable
from taperwise.taper.plan import TaperPlan

OUTCOMES = ("accepted", "overridden")
MAX_COMMENT = 2000


@dataclass(frozen=True)
class CdsPatientRecord:
    """What taperwise holds of one patient, for the cards: the app's patient number (for links), the
    agreed plan in force, and when a plan was last agreed or a review status last recorded."""

    patient_id: int
    agreed_plan: TaperPlan | None
    agreed_plan_id: int | None
    agreed_on: dt.date | None
    last_review: dt.datetime | None  # the latest agreed plan or review status, whichever is later


def ehr_name(issuer: str) -> str:
    return printable(f"ehr:{issuer}", 100)


def organisation_id(s: Session, code: str | None) -> int | None:
    if code is None:
        return None
    return s.scalar(select(Organisation.id).where(Organisation.code == code))


def cds_patient_record(
    s: Session, organisation: int | None, fhir_patient_id: str, issuer: str, service_id: str
) -> CdsPatientRecord | None:
    """The patient's record in the issuer's organisation, or None; the read is audited (as a `view` of
    the patient by the EHR), found or not."""
    patient = None
    if organisation is not None:
        patient = s.scalar(
            select(Patient).where(
                Patient.organisation_id == organisation, Patient.external_id == fhir_patient_id
            )
        )
    record_audit(
        s, None, "view", "patient" if patient else "cds_patient",
        patient.id if patient else fhir_patient_id, None, None,
        f"CDS Hooks {service_id}" + ("" if patient else ": not in taperwise"),
        organisation_id=organisation, username=ehr_name(issuer),
    )  # fmt: skip
    if patient is None:
        return None
    agreed = s.scalar(
        select(TaperPlanRecord)
        .where(TaperPlanRecord.patient_id == patient.id, TaperPlanRecord.status == "agreed")
        .order_by(TaperPlanRecord.id.desc())
    )
    plan = TaperPlan.from_dict(json.loads(agreed.plan_json)) if agreed is not None else None
    latest_plan = s.scalar(
        select(func.max(TaperPlanRecord.agreed_at)).where(TaperPlanRecord.patient_id == patient.id)
    )
    latest_status = s.scalar(
        select(func.max(ReviewStatus.created_at)).where(ReviewStatus.patient_id == patient.id)
    )
    moments = [moment for moment in (latest_plan, latest_status) if moment is not None]
    return CdsPatientRecord(
        patient_id=patient.id,
        agreed_plan=plan,
        agreed_plan_id=agreed.id if agreed is not None else None,
        agreed_on=agreed.agreed_at.date() if agreed is not None and agreed.agreed_at else None,
        last_review=max(moments) if moments else None,
    )


@dataclass(frozen=True)
class IssuedCard:
    uuid: str
    rule_id: str
    indicator: str
    summary: str


def record_cards(
    s: Session,
    cards: Sequence[IssuedCard],
    *,
    service_id: str,
    hook_instance: str,
    issuer: str,
    organisation: int | None,
    fhir_patient_id: str,
    rules_version: str,
) -> None:
    for card in cards:
        s.add(
            CdsCard(
                uuid=card.uuid, service_id=service_id, hook_instance=printable(hook_instance, 128),
                rule_id=card.rule_id, rules_version=rules_version, indicator=card.indicator,
                issuer=printable(issuer, 300), organisation_id=organisation,
                fhir_patient_id=fhir_patient_id, summary=card.summary[:200],
            )
        )  # fmt: skip


def _text(value: object, field: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise RequestValidationError(field, "must be a string")
    return clean_text(field, value, limit) or None


def _outcome_time(value: object, where: str) -> dt.datetime:
    if not isinstance(value, str):
        raise RequestValidationError(
            f"{where}.outcomeTimestamp", "is required (an ISO 8601 date-time in UTC)"
        )
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise RequestValidationError(
            f"{where}.outcomeTimestamp", f"{value[:40]!r} is not an ISO 8601 date-time"
        ) from exc
    if moment.tzinfo is None:
        raise RequestValidationError(f"{where}.outcomeTimestamp", "must say its time zone (UTC: a final Z)")
    return moment.astimezone(dt.UTC)


def record_feedback(s: Session, service_id: str, body: object, issuer: str) -> int:
    """Record a feedback POST (`{"feedback": [...]}`) for cards this service returned; returns how many
    reports were recorded. The whole POST is refused, naming the entry and the field, when any entry is
    malformed or names a card this service did not return to this issuer."""
    if not isinstance(body, dict) or not isinstance(body.get("feedback"), list):
        raise RequestValidationError("feedback", "the body must be an object with a `feedback` array")
    rows = []
    for number, entry in enumerate(body["feedback"]):
        where = f"feedback[{number}]"
        if not isinstance(entry, dict):
            raise RequestValidationError(where, "must be an object")
        uuid = entry.get("card")
        if not isinstance(uuid, str) or not uuid:
            raise RequestValidationError(f"{where}.card", "is required (the card's uuid)")
        card = s.scalar(select(CdsCard).where(CdsCard.uuid == uuid[:36]))
        if card is None or card.service_id != service_id or card.issuer != printable(issuer, 300):
            raise RequestValidationError(
                f"{where}.card", f"{uuid[:40]!r} is not a card this service returned"
            )
        outcome = entry.get("outcome")
        if outcome not in OUTCOMES:
            raise RequestValidationError(f"{where}.outcome", "must be 'accepted' or 'overridden'")
        accepted = entry.get("acceptedSuggestions") or []
        if outcome == "accepted" and not accepted:
            raise RequestValidationError(
                f"{where}.acceptedSuggestions", "is required when the outcome is accepted"
            )
        if not isinstance(accepted, list) or not all(
            isinstance(item, dict) and isinstance(item.get("id"), str) for item in accepted
        ):
            raise RequestValidationError(f"{where}.acceptedSuggestions", 'must be a list of {"id": …}')
        reason: dict[str, Any] = entry.get("overrideReason") or {}
        if not isinstance(reason, dict):
            raise RequestValidationError(f"{where}.overrideReason", "must be an object")
        coding = reason.get("reason") or {}
        if not isinstance(coding, dict):
            raise RequestValidationError(f"{where}.overrideReason.reason", "must be a Coding")
        rows.append(
            CdsFeedback(
                card_id=card.id,
                outcome=outcome,
                accepted_suggestions_json=json.dumps([item["id"][:64] for item in accepted]),
                reason_system=_text(coding.get("system"), f"{where}.overrideReason.reason.system", 300),
                reason_code=_text(coding.get("code"), f"{where}.overrideReason.reason.code", 128),
                reason_display=_text(coding.get("display"), f"{where}.overrideReason.reason.display", 300),
                user_comment=_text(
                    reason.get("userComment"), f"{where}.overrideReason.userComment", MAX_COMMENT
                ),
                outcome_at=_outcome_time(entry.get("outcomeTimestamp"), where),
                issuer=printable(issuer, 300),
            )
        )
    s.add_all(rows)
    record_audit(
        s, None, "create", "cds_feedback", service_id, None, None, f"{len(rows)} report(s)",
        username=ehr_name(issuer),
    )  # fmt: skip
    return len(rows)


@dataclass(frozen=True)
class OverrideRow:
    """One card rule's figures: cards returned, reports of each outcome, and the override reasons given."""

    rule_id: str
    shown: int
    accepted: int
    overridden: int
    reasons: tuple[tuple[str, int], ...]  # (reason display or code or "no reason given", count)

    @property
    def override_rate(self) -> float | None:
        """Overridden ÷ cards that had any feedback (None when none had any: not 0)."""
        answered = self.accepted + self.overridden
        return None if answered == 0 else self.overridden / answered


def override_report(s: Session, user: User, since: dt.date | None = None) -> tuple[OverrideRow, ...]:
    """Per card rule, for the cards returned in the user's organisations: counts only, no patient named,
    so every role may read it. Each card counts once per outcome, however often it was reported."""
    organisations = organisation_ids(s, user)
    if not organisations:
        return ()
    start = dt.datetime.combine(since, dt.time(), dt.UTC) if since else dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    cards = select(CdsCard).where(CdsCard.organisation_id.in_(organisations), CdsCard.created_at >= start)
    shown: dict[str, int] = {}
    for card in s.scalars(cards):
        shown[card.rule_id] = shown.get(card.rule_id, 0) + 1
    outcomes = s.execute(
        select(CdsCard.rule_id, CdsFeedback.card_id, CdsFeedback.outcome, CdsFeedback.reason_display,
               CdsFeedback.reason_code)
        .join(CdsCard, CdsCard.id == CdsFeedback.card_id)
        .where(CdsCard.organisation_id.in_(organisations), CdsCard.created_at >= start)
    ).all()  # fmt: skip
    seen: set[tuple[int, str]] = set()
    accepted: dict[str, int] = {}
    overridden: dict[str, int] = {}
    reasons: dict[str, dict[str, int]] = {}
    for rule_id, card_id, outcome, display, code in outcomes:
        if (card_id, outcome) in seen:
            continue
        seen.add((card_id, outcome))
        target = accepted if outcome == "accepted" else overridden
        target[rule_id] = target.get(rule_id, 0) + 1
        if outcome == "overridden":
            label = display or code or "no reason given"
            counts = reasons.setdefault(rule_id, {})
            counts[label] = counts.get(label, 0) + 1
    return tuple(
        OverrideRow(
            rule_id, shown[rule_id], accepted.get(rule_id, 0), overridden.get(rule_id, 0),
            tuple(sorted(reasons.get(rule_id, {}).items(), key=lambda item: (-item[1], item[0]))),
        )
        for rule_id in sorted(shown)
    )  # fmt: skip
