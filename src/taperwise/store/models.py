"""The clinical store's tables, as typed SQLAlchemy 2 models.

Rules every table follows, because this is a clinical record: an integer `id` and a UTC `created_at`;
nothing a clinician enters is hard-deleted (users are deactivated, snapshots superseded — older rows
stay); and `audit_events` is append-only (triggers in the migrations refuse UPDATE and DELETE on both
SQLite and PostgreSQL). Dates and times are stored as naive UTC and read back as aware UTC, so SQLite
and PostgreSQL behave the same.

The migrations in `migrations/versions/` are the schema of record; these models must match them
(`tests/store/test_migrations.py` compares the two).
"""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ORGANISATION_KINDS = ("practice", "clinic", "health_system")
AUDIT_ACTIONS = (
    "view",
    "create",
    "update",
    "supersede",
    "login",
    "login_failed",
    "logout",
    "publish",
    "export",
    "denied",
    "search",
)

# Stable constraint names, so that Alembic can alter them on both engines.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

MME = Numeric(18, 4)  # the exposure engine's DECIMAL(18, 4): no float residue in doses
PATIENT_ID = String(128).with_variant(String(128, collation="C"), "postgresql")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_pseudonym() -> str:
    """A random, stable stand-in for a patient in de-identified views: not derived from any identifier."""
    return "P-" + secrets.token_hex(6).upper()


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out; stored naive UTC (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware UTC datetime")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Stamped:
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


class Organisation(Stamped, Base):
    __tablename__ = "organisations"

    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="practice")


class User(Stamped, Base):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    specialty: Mapped[str | None] = mapped_column(String(50))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class Membership(Stamped, Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "organisation_id", name="uq_memberships_user_org"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)


class Patient(Stamped, Base):
    __tablename__ = "patients"
    __table_args__ = (UniqueConstraint("organisation_id", "external_id", name="uq_patients_org_external_id"),)

    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    # Bytewise on PostgreSQL whatever the cluster's locale, as on SQLite: the prefix search is a range
    # over this column's index and must not follow a language's rules (migration 0002).
    external_id: Mapped[str] = mapped_column(PATIENT_ID)
    pseudonym: Mapped[str] = mapped_column(String(32), unique=True, default=new_pseudonym)
    sex: Mapped[str | None] = mapped_column(String(20))
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    death_date: Mapped[dt.date | None] = mapped_column(Date)
    in_program: Mapped[bool] = mapped_column(Boolean, default=False)


class RegistrySnapshot(Stamped, Base):
    __tablename__ = "registry_snapshots"

    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    as_of: Mapped[dt.date] = mapped_column(Date)
    factor_set: Mapped[str] = mapped_column(String(100))
    metadata_json: Mapped[str] = mapped_column(Text)
    source_sha256: Mapped[str] = mapped_column(String(64))
    published_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    published_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    superseded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    patients: Mapped[int] = mapped_column(Integer, default=0)
    problems_json: Mapped[str] = mapped_column(Text, default="[]")


class RegistryEntry(Stamped, Base):
    __tablename__ = "registry_entries"
    __table_args__ = (Index("ix_registry_entries_patient", "patient_id", "snapshot_id"),)

    snapshot_id: Mapped[int] = mapped_column(ForeignKey("registry_snapshots.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    avg_daily_mme_90d: Mapped[Decimal] = mapped_column(MME)
    max_daily_mme_90d: Mapped[Decimal] = mapped_column(MME)
    days_covered_90d: Mapped[int] = mapped_column(Integer)
    ltot: Mapped[bool] = mapped_column(Boolean)
    high_dose_50: Mapped[bool | None] = mapped_column(Boolean)  # None: unknown (dose incomplete)
    high_dose_90: Mapped[bool | None] = mapped_column(Boolean)
    benzo_overlap_days_90d: Mapped[int] = mapped_column(Integer)
    prescribers_180d: Mapped[int] = mapped_column(Integer)
    pharmacies_180d: Mapped[int] = mapped_column(Integer)
    multi_provider: Mapped[bool] = mapped_column(Boolean)
    new_prescriber: Mapped[bool | None] = mapped_column(Boolean)
    buprenorphine_days_90d: Mapped[int] = mapped_column(Integer)
    priority: Mapped[int] = mapped_column(Integer)
    priority_reason: Mapped[str] = mapped_column(Text)
    problem_records_180d: Mapped[int] = mapped_column(Integer, default=0)
    dose_complete: Mapped[bool | None] = mapped_column(Boolean)  # None: a registry from before 0003
    unknown_dose_days_90d: Mapped[int | None] = mapped_column(Integer)
    dose_gap: Mapped[str | None] = mapped_column(Text)
    current_daily_mme: Mapped[Decimal | None] = mapped_column(MME)  # None: a registry from before 0004
    restarted_after_gap: Mapped[bool | None] = mapped_column(Boolean)
    max_includes_overlap_90d: Mapped[bool | None] = mapped_column(Boolean)  # None: from before 0005
    harm_events_180d: Mapped[int | None] = mapped_column(Integer)
    opioid_overdose_180d: Mapped[int | None] = mapped_column(Integer)
    last_harm_event: Mapped[str | None] = mapped_column(String(120))  # "opioid_overdose 2025-03-10"


# The worklist's order (priority, then average MME highest first, then id) inside one snapshot: a page is
# read straight off this index instead of sorting 100k rows.
Index(
    "ix_registry_entries_worklist",
    RegistryEntry.snapshot_id,
    RegistryEntry.priority,
    RegistryEntry.avg_daily_mme_90d.desc(),
    RegistryEntry.id,
)


class TrajectorySegment(Stamped, Base):
    __tablename__ = "trajectory_segments"
    __table_args__ = (Index("ix_trajectory_segments_patient", "patient_id", "snapshot_id"),)

    snapshot_id: Mapped[int] = mapped_column(ForeignKey("registry_snapshots.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)
    daily_mme: Mapped[Decimal] = mapped_column(MME)
    n_opioids: Mapped[int] = mapped_column(Integer)
    # fills of one product in supply at once beyond the first (early refills); None: from before 0005
    overlapping_fills: Mapped[int | None] = mapped_column(Integer)


class PrescriptionRecord(Stamped, Base):
    __tablename__ = "prescription_records"
    __table_args__ = (Index("ix_prescription_records_patient", "patient_id", "snapshot_id"),)

    snapshot_id: Mapped[int] = mapped_column(ForeignKey("registry_snapshots.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    rx_id: Mapped[str] = mapped_column(String(128))
    drug: Mapped[str | None] = mapped_column(Text)
    ingredient: Mapped[str | None] = mapped_column(String(100))
    start_date: Mapped[dt.date | None] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    days_supply: Mapped[int | None] = mapped_column(Integer)
    quantity: Mapped[Decimal | None] = mapped_column(MME)
    daily_mme: Mapped[Decimal | None] = mapped_column(MME)
    status: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str | None] = mapped_column(Text)
    drug_class: Mapped[str | None] = mapped_column(String(50))
    route: Mapped[str | None] = mapped_column(String(50))
    prescriber_id: Mapped[str | None] = mapped_column(String(128))
    pharmacy_id: Mapped[str | None] = mapped_column(String(128))


class HarmEvent(Stamped, Base):
    __tablename__ = "harm_events"
    __table_args__ = (Index("ix_harm_events_patient", "patient_id", "snapshot_id"),)

    snapshot_id: Mapped[int] = mapped_column(ForeignKey("registry_snapshots.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    date: Mapped[dt.date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(50))
    code: Mapped[str | None] = mapped_column(String(50))
    code_system: Mapped[str | None] = mapped_column(String(200))


class UserSession(Stamped, Base):
    """A signed-in browser session, held here so that it can be ended before it expires.

    The cookie carries only a random token; the store keeps its SHA-256 (`token_hash`), so a copy of this
    table does not sign anyone in. A session is live while `ended_at` is empty, `last_seen_at` is within
    the idle limit and `expires_at` (the absolute limit) has not passed. Rows are never deleted: an ended
    session says when and why (`end_reason`: signed_out, signed_out_everywhere, deactivated, idle,
    expired, replaced).
    """

    __tablename__ = "user_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    end_reason: Mapped[str | None] = mapped_column(String(40))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(500))


class AuditChain(Base):
    """The newest link of the audit log's hash chain (one row, id 1): the sequence number and hash that
    the next audit row continues from. Taking its row lock is what puts concurrent writers in one order."""

    __tablename__ = "audit_chain"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))


class AuditEvent(Base):
    """Who did what to which record, when, from where. Append-only; `created_at` is `at`.

    Tamper-evident: `seq` numbers the rows without gaps, and `row_hash` is the SHA-256 of the row's own
    values and `prev_hash`, the `row_hash` of the row before (store/audit.py; `taperwise audit verify`).
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_entity", "entity_type", "entity_id"),
        Index("ix_audit_events_ip_at", "ip", "at"),
        Index("uq_audit_events_seq", "seq", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    username: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(20))
    entity_type: Mapped[str] = mapped_column(String(50))
    entity_id: Mapped[str | None] = mapped_column(String(128))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    detail: Mapped[str] = mapped_column(Text, default="")
    seq: Mapped[int | None] = mapped_column(Integer)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    row_hash: Mapped[str | None] = mapped_column(String(64))

    @property
    def created_at(self) -> dt.datetime:
        return self.at


class Assessment(Stamped, Base):
    """One structured assessment or follow-up of a patient in the program (issue 13).

    The answers are rows of `assessment_answers`, one per saved value, never updated in place; the
    assessment itself changes only its status (in_progress → completed) and who completed it when.
    """

    __tablename__ = "assessments"
    __table_args__ = (Index("ix_assessments_patient", "patient_id", "created_at"),)

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    kind: Mapped[str] = mapped_column(String(20))  # "assessment" or "follow-up"
    status: Mapped[str] = mapped_column(String(20), default="in_progress")
    started_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    completed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class AssessmentAnswer(Stamped, Base):
    """A value saved for one item. Changing it adds a row and stamps the old one `superseded_at`: the
    previous value is kept. `value` NULL records that an answer was cleared."""

    __tablename__ = "assessment_answers"
    __table_args__ = (Index("ix_assessment_answers_item", "assessment_id", "item_id"),)

    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id"))
    instrument_id: Mapped[str] = mapped_column(String(30))
    instrument_version: Mapped[str] = mapped_column(String(20))
    item_id: Mapped[str] = mapped_column(String(40))
    value: Mapped[str | None] = mapped_column(Text)
    entered_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    superseded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class SafetyAlert(Stamped, Base):
    """A safety signal raised by an answer (PHQ-9 item 9). Sticky: changing the answer does not end it;
    it stays open until a clinician records what was done (`resolved_by_user_id`, `resolution`)."""

    __tablename__ = "safety_alerts"
    __table_args__ = (Index("ix_safety_alerts_patient", "patient_id", "resolved_at"),)

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id"))
    alert_id: Mapped[str] = mapped_column(String(50))
    level: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(Text)
    raised_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    resolved_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolution: Mapped[str | None] = mapped_column(Text)


class ModuleSignOff(Stamped, Base):
    """A named clinician's approval of one program module's exact texts (their digest)."""

    __tablename__ = "module_signoffs"
    __table_args__ = (Index("ix_module_signoffs_module", "module_id", "digest"),)

    module_id: Mapped[str] = mapped_column(String(50))
    module_version: Mapped[str] = mapped_column(String(20))
    digest: Mapped[str] = mapped_column(String(64))
    signed_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(Text, default="")


class TaperPlanRecord(Stamped, Base):
    """A taper plan made in the app: the request the clinician and patient chose, and the engine's plan.

    A draft becomes agreed when every `requires_review` warning has been acknowledged with a reason; an
    agreed plan is superseded (never deleted) by the next one agreed for the patient.
    """

    __tablename__ = "taper_plans"
    __table_args__ = (Index("ix_taper_plans_patient", "patient_id", "created_at"),)

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    status: Mapped[str] = mapped_column(String(20), default="draft")  # draft | agreed | superseded
    request_json: Mapped[str] = mapped_column(Text)
    plan_json: Mapped[str] = mapped_column(Text)
    created_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    agreed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    agreed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    superseded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # A plan adapted after a follow-up (migration 0009): the plan it replaced, and the follow-up as entered.
    previous_plan_id: Mapped[int | None] = mapped_column(ForeignKey("taper_plans.id"))
    follow_up_json: Mapped[str | None] = mapped_column(Text)


class PlanWarningAcknowledgement(Stamped, Base):
    """A clinician's reason for going ahead despite one `requires_review` warning of a plan."""

    __tablename__ = "plan_warning_acknowledgements"
    __table_args__ = (Index("ix_plan_warning_acknowledgements_plan", "plan_id"),)

    plan_id: Mapped[int] = mapped_column(ForeignKey("taper_plans.id"))
    warning_code: Mapped[str] = mapped_column(String(50))
    reason: Mapped[str] = mapped_column(Text)
    acknowledged_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


class IntakeReview(Stamped, Base):
    """An inherited patient's intake: opened when a clinician starts the checklist, open until a decision
    is recorded — so it stays on the worklist, whatever the registry says, until someone decides."""

    __tablename__ = "intake_reviews"
    __table_args__ = (Index("ix_intake_reviews_open", "organisation_id", "decided_at"),)

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    opened_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[str | None] = mapped_column(String(30))
    decision_note: Mapped[str | None] = mapped_column(Text)
    referral: Mapped[str | None] = mapped_column(Text)
    bridging_plan: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class IntakeCheck(Stamped, Base):
    """One saved state of one checklist item (done or not, with a note); the newest per item is current."""

    __tablename__ = "intake_checks"
    __table_args__ = (Index("ix_intake_checks_intake", "intake_id", "item_id"),)

    intake_id: Mapped[int] = mapped_column(ForeignKey("intake_reviews.id"))
    item_id: Mapped[str] = mapped_column(String(50))
    done: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(Text, default="")
    checked_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


class ReviewStatus(Stamped, Base):
    """Where a patient stands in the program, as the team last recorded it (newest row is current):
    in_review, in_program, declined (with the reason). No row: not reviewed."""

    __tablename__ = "review_statuses"
    __table_args__ = (Index("ix_review_statuses_patient", "patient_id", "id"),)

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    recorded_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


class MonitoringEvent(Stamped, Base):
    """A monitoring step done for a patient: a PDMP check, a urine drug test, naloxone supplied."""

    __tablename__ = "monitoring_events"
    __table_args__ = (Index("ix_monitoring_events_patient", "patient_id", "kind", "date"),)

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    kind: Mapped[str] = mapped_column(String(30))
    date: Mapped[dt.date] = mapped_column(Date)
    result: Mapped[str] = mapped_column(Text, default="")
    recorded_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


class TreatmentAgreement(Stamped, Base):
    """The agreement made with the patient: goals, a time-limited trial with its stop rule, and how often it
    is reviewed. The newest not superseded is in force; a new one supersedes it (kept)."""

    __tablename__ = "treatment_agreements"
    __table_args__ = (Index("ix_treatment_agreements_patient", "patient_id", "id"),)

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    goals: Mapped[str] = mapped_column(Text)
    trial_until: Mapped[dt.date | None] = mapped_column(Date)
    stop_rule: Mapped[str] = mapped_column(Text, default="")
    review_interval_days: Mapped[int] = mapped_column(Integer)
    agreed_on: Mapped[dt.date] = mapped_column(Date)
    recorded_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    superseded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class ProgramChoice(Stamped, Base):
    """The modules and programme format a clinician chose for a patient after an assessment, with every
    difference from the recommendation and its reason. The newest row is in force."""

    __tablename__ = "program_choices"
    __table_args__ = (Index("ix_program_choices_patient", "patient_id", "id"),)

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id"))
    template_id: Mapped[str] = mapped_column(String(50))
    modules_json: Mapped[str] = mapped_column(Text)
    deviations_json: Mapped[str] = mapped_column(Text)
    chosen_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


class CdsCard(Stamped, Base):
    """A card a CDS Hooks service returned to an EHR: which rule, for which call and patient (the FHIR
    Patient.id as the EHR sent it), so that the EHR's feedback can be counted per card."""

    __tablename__ = "cds_cards"
    __table_args__ = (Index("ix_cds_cards_rule", "rule_id", "id"),)

    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    service_id: Mapped[str] = mapped_column(String(64))
    hook_instance: Mapped[str] = mapped_column(String(128))
    rule_id: Mapped[str] = mapped_column(String(64))
    rules_version: Mapped[str] = mapped_column(String(32))
    indicator: Mapped[str] = mapped_column(String(10))
    issuer: Mapped[str] = mapped_column(String(300))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    fhir_patient_id: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(String(200))


class CdsFeedback(Stamped, Base):
    """What the EHR reported a user did with a card: accepted a suggestion, or overrode it (with the
    reason and comment the user gave). Every report is kept, repeats included (the spec allows them)."""

    __tablename__ = "cds_feedback"

    card_id: Mapped[int] = mapped_column(ForeignKey("cds_cards.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(12))
    accepted_suggestions_json: Mapped[str] = mapped_column(Text, default="[]")
    reason_system: Mapped[str | None] = mapped_column(String(300))
    reason_code: Mapped[str | None] = mapped_column(String(128))
    reason_display: Mapped[str | None] = mapped_column(String(300))
    user_comment: Mapped[str | None] = mapped_column(Text)
    outcome_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    issuer: Mapped[str] = mapped_column(String(300))
