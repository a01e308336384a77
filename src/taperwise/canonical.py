"""The canonical tables every ingest writes and every engine reads (CONTRACTS.md).

Column names only, in contract order; values travel as text until an engine casts them, so that a bad
value is reported on its row rather than refused with the file.
"""

from __future__ import annotations

PRESCRIPTION_REQUIRED = ("patient_id", "rx_id", "drug", "start_date", "days_supply", "quantity")
PRESCRIPTION_OPTIONAL = (
    "rxcui",
    "ndc",
    "units_per_day",
    "strength",
    "strength_unit",
    "prescriber_id",
    "pharmacy_id",
    "source",
    "setting",
    "route",
    "status",
    "as_needed",
    "quantity_unit",
    # How days_supply was obtained (FHIR ingest: stated, quantity_per_day, sig_bounds, assumed, …); empty
    # when the input gave days_supply as a column. docs/decisions/0012-order-supply-duration.md.
    "supply_days_source",
)
PRESCRIPTION_COLUMNS = PRESCRIPTION_REQUIRED + PRESCRIPTION_OPTIONAL

PATIENT_COLUMNS = ("patient_id", "sex", "birth_date", "death_date", "organisation_id")
EVENT_COLUMNS = ("patient_id", "date", "kind", "code", "code_system")

# `source` values, and the order in which one fill's records are preferred when de-duplicating.
SOURCES = ("dispense", "order", "statement", "administration")
# `kind` values of harm events watched after tapering.
EVENT_KINDS = ("opioid_overdose", "emergency_visit", "mental_health_crisis", "death")
