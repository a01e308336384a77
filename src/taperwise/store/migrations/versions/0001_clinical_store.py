"""Clinical store: organisations, users, patients, registry snapshots and the append-only audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Written out rather than derived from the models, so that this revision stays what it was when the models
change; `tests/store/test_migrations.py` checks that models and migrations agree.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

MME = sa.Numeric(18, 4)
APPEND_ONLY = "audit_events is append-only: audit rows cannot be changed or deleted"


def _stamped(table: str, *columns: sa.Column[object] | sa.Constraint) -> None:
    op.create_table(
        table,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        *columns,
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
    )


def _fk(
    table: str, column: str, target: str, nullable: bool = False
) -> list[sa.Column[object] | sa.Constraint]:
    return [
        sa.Column(column, sa.Integer(), nullable=nullable),
        sa.ForeignKeyConstraint([column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}"),
    ]


def _snapshot_rows(table: str, *columns: sa.Column[object]) -> None:
    _stamped(
        table,
        *_fk(table, "snapshot_id", "registry_snapshots"),
        *_fk(table, "patient_id", "patients"),
        *columns,
    )
    op.create_index(f"ix_{table}_patient", table, ["patient_id", "snapshot_id"])


def upgrade() -> None:
    _stamped(
        "organisations",
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.UniqueConstraint("code", name="uq_organisations_code"),
    )
    _stamped(
        "users",
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("specialty", sa.String(50), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("last_login_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("username", name="uq_users_username"),
    )
    _stamped(
        "memberships",
        *_fk("memberships", "user_id", "users"),
        *_fk("memberships", "organisation_id", "organisations"),
        sa.UniqueConstraint("user_id", "organisation_id", name="uq_memberships_user_org"),
    )
    op.create_index("ix_memberships_user_id", "memberships", ["user_id"])
    op.create_index("ix_memberships_organisation_id", "memberships", ["organisation_id"])
    _stamped(
        "patients",
        *_fk("patients", "organisation_id", "organisations"),
        sa.Column("external_id", sa.String(128), nullable=False),
        sa.Column("pseudonym", sa.String(32), nullable=False),
        sa.Column("sex", sa.String(20), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("death_date", sa.Date(), nullable=True),
        sa.Column("in_program", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("organisation_id", "external_id", name="uq_patients_org_external_id"),
        sa.UniqueConstraint("pseudonym", name="uq_patients_pseudonym"),
    )
    _stamped(
        "registry_snapshots",
        *_fk("registry_snapshots", "organisation_id", "organisations", nullable=True),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("factor_set", sa.String(100), nullable=False),
        sa.Column("metadata_json", sa.Text(), nullable=False),
        sa.Column("source_sha256", sa.String(64), nullable=False),
        *_fk("registry_snapshots", "published_by_user_id", "users", nullable=True),
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.Column("superseded_at", sa.DateTime(), nullable=True),
        sa.Column("patients", sa.Integer(), nullable=False),
        sa.Column("problems_json", sa.Text(), nullable=False),
    )
    op.create_index("ix_registry_snapshots_organisation_id", "registry_snapshots", ["organisation_id"])
    _snapshot_rows(
        "registry_entries",
        sa.Column("avg_daily_mme_90d", MME, nullable=False),
        sa.Column("max_daily_mme_90d", MME, nullable=False),
        sa.Column("days_covered_90d", sa.Integer(), nullable=False),
        sa.Column("ltot", sa.Boolean(), nullable=False),
        sa.Column("high_dose_50", sa.Boolean(), nullable=False),
        sa.Column("high_dose_90", sa.Boolean(), nullable=False),
        sa.Column("benzo_overlap_days_90d", sa.Integer(), nullable=False),
        sa.Column("prescribers_180d", sa.Integer(), nullable=False),
        sa.Column("pharmacies_180d", sa.Integer(), nullable=False),
        sa.Column("multi_provider", sa.Boolean(), nullable=False),
        sa.Column("new_prescriber", sa.Boolean(), nullable=True),
        sa.Column("buprenorphine_days_90d", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("priority_reason", sa.Text(), nullable=False),
        sa.Column("problem_records_180d", sa.Integer(), nullable=False),
        sa.Column("harm_events_180d", sa.Integer(), nullable=True),
        sa.Column("opioid_overdose_180d", sa.Integer(), nullable=True),
        sa.Column("last_harm_event", sa.String(length=120), nullable=True),
    )
    op.create_index(
        "ix_registry_entries_worklist",
        "registry_entries",
        ["snapshot_id", "priority", sa.literal_column("avg_daily_mme_90d DESC"), "id"],
    )
    _snapshot_rows(
        "trajectory_segments",
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("daily_mme", MME, nullable=False),
        sa.Column("n_opioids", sa.Integer(), nullable=False),
    )
    _snapshot_rows(
        "prescription_records",
        sa.Column("rx_id", sa.String(128), nullable=False),
        sa.Column("drug", sa.Text(), nullable=True),
        sa.Column("ingredient", sa.String(100), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("days_supply", sa.Integer(), nullable=True),
        sa.Column("quantity", MME, nullable=True),
        sa.Column("daily_mme", MME, nullable=True),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("drug_class", sa.String(50), nullable=True),
        sa.Column("route", sa.String(50), nullable=True),
        sa.Column("prescriber_id", sa.String(128), nullable=True),
        sa.Column("pharmacy_id", sa.String(128), nullable=True),
    )
    _snapshot_rows(
        "harm_events",
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("code", sa.String(50), nullable=True),
        sa.Column("code_system", sa.String(200), nullable=True),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        *_fk("audit_events", "user_id", "users", nullable=True),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("entity_type", sa.String(50), nullable=False),
        sa.Column("entity_id", sa.String(128), nullable=True),
        *_fk("audit_events", "organisation_id", "organisations", nullable=True),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(500), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_user_id", "audit_events", ["user_id"])
    op.create_index("ix_audit_events_entity", "audit_events", ["entity_type", "entity_id"])
    _append_only_audit()


def _append_only_audit() -> None:
    """The audit log refuses UPDATE and DELETE in the database itself, whatever the code above it does."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION taperwise_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{APPEND_ONLY}' USING ERRCODE = 'insufficient_privilege'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION taperwise_audit_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
            "FOR EACH STATEMENT EXECUTE FUNCTION taperwise_audit_append_only()"
        )
        return
    for verb in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
            f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
        )


def downgrade() -> None:
    # Downgrading would destroy the audit log; a clinical record is never rolled back this way.
    raise NotImplementedError("the clinical store cannot be downgraded: restore a backup instead")
