"""Publishing a registry into the clinical store: the files `taperwise registry` writes become a snapshot.

The app never recomputes MME: it shows what the exposure engine wrote (registry rows, constant-MME
segments, per-prescription MME rows). A new snapshot supersedes the organisation's previous one, which
stays in the database with its rows (a worklist seen last month can always be shown again). A row that
cannot be loaded (a bad number, a NUL byte, a repeated patient) is refused and listed in the snapshot's
`problems_json` and in the `publish` audit event; the rest is loaded.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from taperwise.canonical import EVENT_COLUMNS
from taperwise.digest import file_sha256
from taperwise.errors import UnusableInputError
from taperwise.exposure.prescriptions import READ_PROBLEM_COLUMN, ROW, read_table_file
from taperwise.exposure.segments import CONTRACT_SEGMENT_COLUMNS, SEGMENT_EXTRA_COLUMNS
from taperwise.registry_schema import (
    FILE_COLUMNS,
    HARM_COLUMNS,
    REGISTRY_COLUMNS,
    REGISTRY_SCHEMA,
    RegistryColumn,
)
from taperwise.store.audit import record_audit
from taperwise.store.models import (
    Base,
    HarmEvent,
    Patient,
    PrescriptionRecord,
    RegistryEntry,
    RegistrySnapshot,
    TrajectorySegment,
    User,
    new_pseudonym,
    utc_now,
)
from taperwise.store.users import ensure_organisation

CHUNK = 5_000  # rows per INSERT batch: big enough to be fast, small enough for PostgreSQL's parameter cap
MME_ROW_COLUMNS = ("rx_id", "patient_id", "ingredient", "daily_mme", "status", "reason")

Parser = Callable[[str | None], Any]


class BadValue(ValueError):
    pass


def _text(value: str | None) -> str | None:
    return value if value not in (None, "") else None


def _required(parse: Parser) -> Parser:
    def parse_required(value: str | None) -> Any:
        if value in (None, ""):
            raise BadValue("is empty")
        return parse(value)

    return parse_required


def _int(value: str | None) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(Decimal(value))
    except (InvalidOperation, ValueError) as exc:
        raise BadValue(f"{value!r} is not a whole number") from exc


def _decimal(value: str | None) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        number = Decimal(value)
    except InvalidOperation as exc:
        raise BadValue(f"{value!r} is not a number") from exc
    if not number.is_finite():
        raise BadValue(f"{value!r} is not a finite number")
    return number.quantize(Decimal("0.0001"))


def _bool(value: str | None) -> bool | None:
    if value in (None, ""):
        return None
    lowered = value.strip().lower()
    if lowered in ("true", "t", "1", "yes"):
        return True
    if lowered in ("false", "f", "0", "no"):
        return False
    raise BadValue(f"{value!r} is not true or false")


def _date(value: str | None) -> dt.date | None:
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(value.strip()[:10])
    except ValueError as exc:
        raise BadValue(f"{value!r} is not a date (YYYY-MM-DD)") from exc


_BY_KIND: dict[str, Parser] = {"text": _text, "int": _int, "decimal": _decimal, "bool": _bool}


def _entry_parser(column: RegistryColumn) -> Parser:
    """The column's parser (registry_schema): known columns refuse an empty cell, except those added
    after the first contract, which an older registry file may lack (then 0, or empty when unknown)."""
    parse = _BY_KIND[column.kind]
    if column.known and not column.added:
        return _required(parse)
    if column.default is not None:
        default = column.default
        return lambda v: default if v in (None, "") else parse(v)
    return parse


ENTRY_FIELDS: dict[str, Parser] = {
    column.name: _entry_parser(column) for column in REGISTRY_SCHEMA if column.name != "patient_id"
}
SEGMENT_FIELDS: dict[str, Parser] = {
    "start_date": _required(_date),
    "end_date": _required(_date),
    "daily_mme": _required(_decimal),
    "n_opioids": _required(_int),
    "overlapping_fills": _int,  # added after the contract: an older segments file lacks it (unknown)
}
PRESCRIPTION_FIELDS: dict[str, Parser] = {
    "rx_id": _required(_text),
    "drug": _text,
    "ingredient": _text,
    "start_date": _date,
    "end_date": _date,
    "days_supply": _int,
    "quantity": _decimal,
    "daily_mme": _decimal,
    "status": _required(_text),
    "reason": _text,
    "drug_class": _text,
    "route": _text,
    "prescriber_id": _text,
    "pharmacy_id": _text,
}
EVENT_FIELDS: dict[str, Parser] = {
    "date": _required(_date),
    "kind": _required(_text),
    "code": _text,
    "code_system": _text,
}


@dataclass
class Problems:
    """Rows refused while publishing, each naming its file, row and record."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, path: Path, row: int, record: str | None, problem: str) -> None:
        self.rows.append({"file": path.name, "row": row + 1, "record": record, "problem": problem})


def _records(path: Path, required: Sequence[str], optional: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
    table: pa.Table = read_table_file(path, required, optional)
    for batch in table.to_batches(max_chunksize=CHUNK):
        yield from batch.to_pylist()


def _parse(
    raw: dict[str, Any], fields: dict[str, Parser], path: Path, problems: Problems
) -> dict[str, Any] | None:
    """Typed values of one row, or None (with a problem line) when any value is unusable."""
    record = raw.get("patient_id")
    if raw.get(READ_PROBLEM_COLUMN):  # a CSV row whose fields are not the header's: values may be shifted
        problems.add(path, raw[ROW], record, f"{raw[READ_PROBLEM_COLUMN]}; the row was not loaded")
        return None
    for name, value in raw.items():
        if isinstance(value, str) and "\x00" in value:
            problems.add(path, raw[ROW], record, f"{name} contains a NUL byte; the row was not loaded")
            return None
    values: dict[str, Any] = {}
    for name, parse in fields.items():
        try:
            values[name] = parse(raw.get(name))
        except BadValue as exc:
            problems.add(path, raw[ROW], record, f"{name} {exc}; the row was not loaded")
            return None
    return values


def _insert(s: Session, model: type[Base], rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        s.execute(insert(model), rows[start : start + CHUNK])


def _read_metadata(path: Path) -> dict[str, Any]:
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
        dt.date.fromisoformat(metadata["as_of"])
        return dict(metadata)
    except FileNotFoundError as exc:
        raise UnusableInputError(
            f"{path}: no such file (taperwise registry writes it beside the registry)"
        ) from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UnusableInputError(f"{path}: not a registry metadata file with an as_of date ({exc})") from exc


def _known_patients(s: Session, organisation_id: int) -> dict[str, int]:
    query = select(Patient.external_id, Patient.id).where(Patient.organisation_id == organisation_id)
    return dict(s.execute(query).all())  # a Result has keys(), so dict() of it would read it as a mapping


def _patients(s: Session, organisation_id: int, external_ids: Sequence[str]) -> dict[str, int]:
    """Patient ids of the organisation by external id, adding those not seen before."""
    known = _known_patients(s, organisation_id)
    now = utc_now()
    new = [
        {"organisation_id": organisation_id, "external_id": external_id, "pseudonym": new_pseudonym(),
         "in_program": False, "created_at": now}
        for external_id in dict.fromkeys(external_ids)
        if external_id not in known
    ]  # fmt: skip
    if new:
        _insert(s, Patient, new)
        known = _known_patients(s, organisation_id)
    return known


def _entries(path: Path, problems: Problems) -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {}
    added = tuple(c for c in REGISTRY_COLUMNS if c not in FILE_COLUMNS)
    for raw in _records(path, FILE_COLUMNS, added + HARM_COLUMNS):
        values = _parse(raw, ENTRY_FIELDS, path, problems)
        patient = raw.get("patient_id")
        if values is None:
            continue
        if not patient:
            problems.add(path, raw[ROW], None, "patient_id is empty; the row was not loaded")
        elif patient in entries:
            problems.add(path, raw[ROW], patient, "patient_id appears twice; the second row was not loaded")
        else:
            entries[patient] = values
    return entries


def _rows_for(
    path: Path,
    required: Sequence[str],
    fields: dict[str, Parser],
    patients: dict[str, int],
    snapshot_id: int,
    problems: Problems,
    merge: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    optional: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Typed rows of a per-patient file, for the registry's patients only (others are outside it)."""
    now = utc_now()
    rows = []
    for raw in _records(path, required, optional):
        if raw.get("patient_id") not in patients:
            continue
        source = merge(raw) if merge is not None else raw
        values = _parse(source, fields, path, problems)
        if values is not None:
            rows.append(values | {"snapshot_id": snapshot_id, "patient_id": patients[raw["patient_id"]],
                                  "created_at": now})  # fmt: skip
    return rows


def _with_prescriptions(
    mme_path: Path, prescriptions_path: Path | None
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """MME rows joined by position to the prescriptions they came from (drug, supply, prescriber, pharmacy).

    `taperwise mme` writes one row per input row, in input order; the rx_id of every pair is checked.
    """
    if prescriptions_path is None:
        return lambda raw: raw
    source = {raw[ROW]: raw for raw in _records(prescriptions_path, ("rx_id",))}

    def merge(raw: dict[str, Any]) -> dict[str, Any]:
        origin = source.get(raw[ROW])
        if origin is None or origin.get("rx_id") != raw.get("rx_id"):
            raise UnusableInputError(
                f"{mme_path}: row {raw[ROW] + 1} (rx_id {raw.get('rx_id')!r}) does not match the same row "
                f"of {prescriptions_path}; pass the prescriptions file the MME rows were computed from"
            )
        carried = {
            k: origin.get(k) for k in ("drug", "days_supply", "quantity", "prescriber_id", "pharmacy_id")
        }
        return carried | {k: v for k, v in raw.items() if v not in (None, "")}

    return merge


def publish_registry(
    s: Session,
    registry_path: Path,
    metadata_path: Path,
    segments_path: Path,
    mme_rows_path: Path | None,
    events_path: Path | None,
    organisation_code: str,
    published_by: User | None = None,
    *,
    prescriptions_path: Path | None = None,
) -> RegistrySnapshot:
    """Load one registry run as the organisation's current snapshot; older snapshots become superseded.

    `prescriptions_path` (the canonical prescriptions the MME rows came from) adds drug text, days supply,
    quantity, prescriber and pharmacy to each prescription row; without it those stay empty.
    """
    metadata = _read_metadata(metadata_path)
    organisation = ensure_organisation(s, organisation_code)
    problems = Problems()
    entries = _entries(registry_path, problems)
    patients = _patients(s, organisation.id, list(entries))
    now = utc_now()
    s.execute(
        update(RegistrySnapshot)
        .where(RegistrySnapshot.organisation_id == organisation.id, RegistrySnapshot.superseded_at.is_(None))
        .values(superseded_at=now)
    )
    factor_set = metadata.get("factor_set") or {}
    snapshot = RegistrySnapshot(
        organisation_id=organisation.id,
        as_of=dt.date.fromisoformat(metadata["as_of"]),
        factor_set=f"{factor_set.get('id', 'unknown')}@{factor_set.get('version', '?')}",
        metadata_json=json.dumps(metadata, ensure_ascii=False),
        source_sha256=file_sha256(registry_path),
        published_by_user_id=None if published_by is None else published_by.id,
        published_at=now,
        patients=len(entries),
    )
    s.add(snapshot)
    s.flush()
    _insert(s, RegistryEntry, [
        values | {"snapshot_id": snapshot.id, "patient_id": patients[p], "created_at": now}
        for p, values in entries.items()
    ])  # fmt: skip
    segments = _rows_for(
        segments_path, CONTRACT_SEGMENT_COLUMNS, SEGMENT_FIELDS, patients, snapshot.id, problems,
        optional=SEGMENT_EXTRA_COLUMNS,
    )  # fmt: skip
    _insert(s, TrajectorySegment, segments)
    if mme_rows_path is not None:
        merge = _with_prescriptions(mme_rows_path, prescriptions_path)
        rows = _rows_for(
            mme_rows_path, MME_ROW_COLUMNS, PRESCRIPTION_FIELDS, patients, snapshot.id, problems, merge
        )
        _insert(s, PrescriptionRecord, rows)
    if events_path is not None:
        events = _rows_for(events_path, EVENT_COLUMNS[:3], EVENT_FIELDS, patients, snapshot.id, problems)
        _insert(s, HarmEvent, events)
    snapshot.problems_json = json.dumps(problems.rows, ensure_ascii=False)
    record_audit(s, published_by, "publish", "registry_snapshot", snapshot.id, None, None,
                 f"as_of={snapshot.as_of} patients={len(entries)} problems={len(problems.rows)} "
                 f"sha256={snapshot.source_sha256}", organisation_id=organisation.id)  # fmt: skip
    return snapshot
