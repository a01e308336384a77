"""The registry's columns are defined once (taperwise.registry_schema); every other declaration of them
must agree, or this fails: the engine's output, the store's model, the worklist row, the API model, the
publishing parsers and the metadata definitions."""

from __future__ import annotations

from taperwise.exposure.mme import prescription_mme
from taperwise.exposure.registry import registry
from taperwise.knowledge.registry import load_priority_rules, load_registry_settings
from taperwise.registry_schema import HARM_COLUMNS, REGISTRY_COLUMNS, REGISTRY_SCHEMA, definitions, label
from taperwise.store.models import RegistryEntry
from taperwise.store.publish import ENTRY_FIELDS
from taperwise.store.worklist import WorklistRow
from taperwise.web.api import WorklistItem
from tests.exposure.test_registry import AS_OF, fill, prescriptions_from_records

STORED = [c.name for c in REGISTRY_SCHEMA if c.name != "patient_id"]


def test_the_store_model_has_every_column_nullable_only_when_a_value_may_be_unknown():
    table = RegistryEntry.__table__
    for column in REGISTRY_SCHEMA:
        if column.name == "patient_id":
            continue
        assert column.name in table.columns, column.name
        nullable = table.columns[column.name].nullable
        assert nullable == column.nullable, column.name


def test_the_worklist_row_and_the_api_model_carry_every_column():
    assert set(STORED) <= set(WorklistRow.__dataclass_fields__)
    assert set(STORED) <= set(WorklistItem.model_fields)
    for column in REGISTRY_SCHEMA:
        if column.name != "patient_id" and not column.known:
            assert not WorklistItem.model_fields[column.name].is_required() or "None" in str(
                WorklistItem.model_fields[column.name].annotation
            )


def test_publishing_parses_every_column_and_the_metadata_defines_each():
    assert list(ENTRY_FIELDS) == STORED
    assert set(definitions(load_registry_settings())) == set(STORED)


def test_the_engine_writes_the_columns_in_the_schemas_order():
    records = [fill("P1", "r1", "Oxycodone Hydrochloride 10 MG Oral Tablet", "2025-06-01", 30, 90)]
    rows = prescription_mme(prescriptions_from_records(records))
    table = registry(rows, AS_OF, load_registry_settings(), load_priority_rules())
    assert tuple(table.columns) == REGISTRY_COLUMNS
    assert tuple(c.name for c in REGISTRY_SCHEMA) == REGISTRY_COLUMNS + HARM_COLUMNS


def test_labels_name_the_thresholds_in_force():
    settings = load_registry_settings()
    values = {"low": 50, "high": 100, "recent": 90, "lookback": 180, "ltot": settings.ltot_label}
    assert label("high_dose_90", values) == "Average ≥ 100 MME/day"
    assert label("high_dose_50", values) == "Average ≥ 50 MME/day"
