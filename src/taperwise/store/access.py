"""Who may see what: roles and organisations, as pure functions the store and the web layer share.

Clinicians, pharmacists, psychologists and admins see identifiable data of their own organisations'
patients. Analysts see de-identified data only (a random pseudonym instead of the record's patient id,
no birth or death dates, no prescription ids). Research coordinators will see identifiable data of their
own study's participants once studies exist (the trial issue); until then they see de-identified data.
Nobody sees a patient of an organisation they do not belong to — that check is `can_view_patient`.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from taperwise.roles import ROLES
from taperwise.store.models import Membership, Patient, User

IDENTIFIABLE_ROLES = frozenset({"clinician", "pharmacist", "psychologist", "admin"})
DEIDENTIFIED_ROLES = frozenset({"analyst", "coordinator"})
assert frozenset(ROLES) == IDENTIFIABLE_ROLES | DEIDENTIFIED_ROLES  # every role has a rule


def organisation_ids(session: Session, user: User) -> frozenset[int]:
    """The organisations `user` belongs to (none for an inactive account)."""
    if not user.active:
        return frozenset()
    rows = session.scalars(select(Membership.organisation_id).where(Membership.user_id == user.id))
    return frozenset(rows)


def can_view_patient(user: User, patient: Patient, organisations: Collection[int]) -> bool:
    """Any view at all of `patient`: an active user of the patient's organisation."""
    return user.active and patient.organisation_id in organisations


def can_view_identifiable(user: User, patient: Patient | None = None) -> bool:
    """May `user` see who `patient` is (their patient id, birth date)?

    Organisation membership is checked separately (`can_view_patient`); this is the role rule. The
    `patient` argument is where study enrolment will be checked for coordinators.
    """
    return user.active and user.role in IDENTIFIABLE_ROLES
