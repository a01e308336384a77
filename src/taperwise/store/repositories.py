"""The store's operations, one import away: `from taperwise.store import repositories as repo`.

Every function takes the session (the transaction) first; none commits. The work lives in modules by
concern — `users` (accounts, organisations, sign-in), `audit`, `publish` (registry snapshots in),
`worklist` (the worklist and the patient's picture out).
"""

from taperwise.store.access import can_view_identifiable, can_view_patient, organisation_ids
from taperwise.store.audit import record_audit
from taperwise.store.publish import publish_registry
from taperwise.store.users import (
    authenticate,
    create_user,
    ensure_organisation,
    get_user,
    get_user_by_name,
    is_locked,
    list_users,
    unlock_user,
)
from taperwise.store.worklist import (
    Page,
    PatientView,
    PrescriptionRow,
    WorklistRow,
    current_snapshots,
    patient_view,
    worklist,
)

__all__ = [
    "Page",
    "PatientView",
    "PrescriptionRow",
    "WorklistRow",
    "authenticate",
    "can_view_identifiable",
    "can_view_patient",
    "create_user",
    "current_snapshots",
    "ensure_organisation",
    "get_user",
    "get_user_by_name",
    "is_locked",
    "list_users",
    "organisation_ids",
    "patient_view",
    "publish_registry",
    "record_audit",
    "unlock_user",
    "worklist",
]
