"""Publishing a registry into the clinical store: the files `taperwise registry` writes become a snapshot.

The app never recomputes MME: it shows what the exposure engine wrote (registry rows, constant-MME
segments, per-prescription MME rows). A new snapshot supersedes the organisation's previous one, which
stays in the database with its rows (a worklist seen last month can always be shown again). A row that
cannot be loaded (a bad number, a NUL byte, a repeated patient) is refused and listed in the snapshot's
`problems_json` and in the `publish` audit event; the rest is loaded.

A date outside the plausible range (`taperwise.plausible`: the range the registry's metadata records, or
the environment's for a file written before it was recorded) in a segment or a prescription row refuses
the whole publication, naming the file and the row: the exposure engine never writes one (it reports such
a prescription as `insufficient_data`), so the files were edited or made elsewhere, and a trajectory with
a segment in the year 10000 is not something to show a clinician, nor to show without it.

Publishing streams: every file is read in batches of CHUNK rows (DuckDB for CSV, Arrow for Parquet) and
its rows are inserted CHUNK at a time, all in the caller's one transaction. What stays in memory is one
batch per file being read, the rows waiting for their INSERT, the problem lines, and one store id per
patient of the snapshot (external id to id), which the segment and prescription rows are matched against.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, cast

import pyarrow as pa
from sqlalchemy import ColumnDefault, Table, insert, select, text, update
from sqlalchemy.orm import Session

from taperwise.canonical import EVENT_COLUMNS
from taperwise.digest import file_sha256
from taperwise.errors import UnusableInputError
from taperwise.exposure.prescriptions import READ_PROBLEM_COLUMN, ROW, read_table_batches
from taperwise.exposure.segments import CONTRACT_SEGMENT_COLUMNS, SEGMENT_EXTRA_COLUMNS
from taperwise.plausible import MAX_DAYS_SUPPLY, MAX_QUANTITY, DateRange
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

CHUNK = 5_000  # rows per batch read and per INSERT: big enough to be fast, small enough to hold
LOOKUP = 1_000  # patient ids per lookup: an IN list well under every engine's cap on parameters
MME_ROW_COLUMNS = ("rx_id", "patient_id", "ingredient", "daily_mme", "status", "reason")
# What a prescription row takes from the prescription it came from (joined by position).
CARRIED_COLUMNS = ("drug", "days_supply", "quantity", "prescriber_id", "pharmacy_id")

Parser = Callable[[str | None], Any]
# The date columns of the per-patient files that the plausible range applies to.
DATE_COLUMNS = ("start_date", "end_date")
_YEAR = re.compile(r"^\s*([+-]?)0*(\d+)-")


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


# What the store's columns hold: INTEGER (32 bits on PostgreSQL) and NUMERIC(18, 4).
INTEGER_LIMIT = 2**31 - 1
DECIMAL_LIMIT = Decimal(10) ** 14


def _int(value: str | None) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(Decimal(value))
    except (InvalidOperation, ValueError, OverflowError) as exc:
        raise BadValue(f"{value!r} is not a whole number") from exc
    if abs(number) > INTEGER_LIMIT:
        raise BadValue(f"{value!r} is out of range (at most {INTEGER_LIMIT})")
    return number


def _decimal(value: str | None) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        number = Decimal(value)
    except InvalidOperation as exc:
        raise BadValue(f"{value!r} is not a number") from exc
    if not number.is_finite():
        raise BadValue(f"{value!r} is not a finite number")
    if abs(number) >= DECIMAL_LIMIT:  # also what `quantize` below could not represent
        raise BadValue(f"{value!r} is out of range (below {DECIMAL_LIMIT:.0e})")
    return number.quantize(Decimal("0.0001"))


def _within_bound(parse: Parser, maximum: float) -> Parser:
    """A value the prescription row carries from the input (days supply, quantity): empty when beyond its
    plausible bound. The MME row's reason quotes it as written (`taperwise.plausible`); the row is kept."""

    def parse_carried(value: str | None) -> Any:
        try:
            number = Decimal(value) if value not in (None, "") else None
        except InvalidOperation:
            number = None
        if number is not None and number.is_finite() and abs(number) > Decimal(maximum):
            return None
        return parse(value)

    return parse_carried


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
    "days_supply": _within_bound(_int, MAX_DAYS_SUPPLY),
    "quantity": _within_bound(_decimal, MAX_QUANTITY),
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


def read_batches(
    path: Path, required: Sequence[str], optional: Sequence[str] = ()
) -> Iterator[pa.RecordBatch]:
    """The file in batches of at most CHUNK rows, never whole (`read_table_batches`, the exposure reader)."""
    return read_table_batches(path, required, optional, CHUNK)


def _records(path: Path, required: Sequence[str], optional: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
    """The file's rows as dicts, one batch of them held at a time."""
    for batch in read_batches(path, required, optional):
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
    """The rows into the model's table in the session's transaction: COPY on PostgreSQL, otherwise
    INSERTs of at most CHUNK rows, each one executemany.

    A Core insert of the table: the rows are plain values, so the ORM's bulk path adds only cost. On
    PostgreSQL an executemany is one statement per row on the server, which made publishing several times
    slower than COPY of the same rows (docs/benchmarks.md), so the rows go by COPY there.
    """
    table = cast(Table, model.__table__)
    if not rows:
        return
    if s.get_bind().dialect.name == "postgresql":
        _copy(s, table, rows)
        return
    statement = insert(table)
    for start in range(0, len(rows), CHUNK):
        s.execute(statement, rows[start : start + CHUNK])


def _copy(s: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL's COPY of the rows, on the session's own connection (so in its transaction), with what
    an INSERT through SQLAlchemy would add: each column type's bind processing (aware UTC datetimes stored
    naive) and the Python-side defaults of the columns a row does not give. Text was already refused when
    it holds a NUL byte (`_parse`), which the statement hook (store/db.py) does for INSERTs."""
    connection = s.connection()
    dialect = connection.dialect
    given = list(dict.fromkeys(name for row in rows[:1] for name in row))
    if any(len(row) != len(given) or any(name not in row for name in given) for row in rows):
        raise ValueError(f"rows for {table.name} do not all have the same columns")  # a programming error
    defaults: dict[str, Any] = {}
    for column in table.columns:
        if column.name in given or column.default is None or column.primary_key:
            continue
        default = cast(ColumnDefault, column.default)  # the models' defaults: values and callables
        defaults[column.name] = default.arg(None) if default.is_callable else default.arg
    names = [*given, *defaults]
    processors = [table.columns[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names]
    raw = connection.connection.driver_connection
    assert raw is not None
    statement = f"COPY {table.name} ({', '.join(names)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            values = [row[name] for name in given] + list(defaults.values())
            copy.write_row([
                value if process is None or value is None else process(value)
                for value, process in zip(values, processors, strict=True)
            ])  # fmt: skip


class _Chunked:
    """Rows bound for one table, sent as one INSERT of CHUNK rows whenever that many are waiting."""

    def __init__(self, s: Session, model: type[Base]) -> None:
        self.s = s
        self.model = model
        self.waiting: list[dict[str, Any]] = []

    def add(self, row: dict[str, Any]) -> None:
        self.waiting.append(row)
        if len(self.waiting) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if self.waiting:
            _insert(self.s, self.model, self.waiting)
            self.waiting = []


def _implausible_date(value: object, field: str, dates: DateRange) -> str | None:
    """Why a date cell is outside `dates`, or None (also for a cell that is not a date: `_parse` says so).

    A year Python cannot hold (10000 and later, or before year 1) is outside every range.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    year = _YEAR.match(value)
    if year:
        before = year.group(1) == "-" or int(year.group(2)) == 0
        if before or int(year.group(2)) > 9999:
            return f"{field} {value.strip()}{dates.before_words() if before else dates.after_words()}"
    try:
        day = dt.date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None
    return dates.problem(day, field)


def _check_dates(raw: dict[str, Any], path: Path, dates: DateRange) -> None:
    """Refuse the publication when a date of the row is outside `dates` (see the module's docstring)."""
    for name in DATE_COLUMNS:
        problem = _implausible_date(raw.get(name), name, dates)
        if problem is not None:
            what = ", ".join(
                f"{key} {raw[key]!r}" for key in ("patient_id", "rx_id") if raw.get(key) is not None
            )
            raise UnusableInputError(
                f"{path}: row {raw[ROW] + 1} ({what}): {problem}; taperwise never writes such a date, so "
                "nothing was published (compute the registry again from the prescriptions)"
            )


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


def _patient_ids(s: Session, organisation_id: int, external_ids: Sequence[str]) -> dict[str, int]:
    """Store ids of these patients of the organisation, adding those not seen before."""
    ids: dict[str, int] = {}
    for start in range(0, len(external_ids), LOOKUP):
        query = select(Patient.external_id, Patient.id).where(
            Patient.organisation_id == organisation_id,
            Patient.external_id.in_(external_ids[start : start + LOOKUP]),
        )
        ids.update(s.execute(query).all())  # rows, not the Result: it has keys()
    now = utc_now()
    new = [
        {"organisation_id": organisation_id, "external_id": external_id, "pseudonym": new_pseudonym(),
         "in_program": False, "created_at": now}
        for external_id in external_ids
        if external_id not in ids
    ]  # fmt: skip
    for start in range(0, len(new), CHUNK):
        added = insert(Patient).returning(Patient.external_id, Patient.id)
        ids.update(s.execute(added, new[start : start + CHUNK]).all())
    return ids


def _load_entries(
    s: Session, path: Path, organisation_id: int, snapshot_id: int, problems: Problems
) -> dict[str, int]:
    """Registry rows in chunks; returns the snapshot's patients (external id to store id), the only
    per-patient state publishing keeps."""
    patients: dict[str, int] = {}
    waiting: dict[str, dict[str, Any]] = {}  # at most CHUNK rows, until their patients have ids

    def flush() -> None:
        ids = _patient_ids(s, organisation_id, list(waiting))
        now = utc_now()
        _insert(s, RegistryEntry, [
            values | {"snapshot_id": snapshot_id, "patient_id": ids[p], "created_at": now}
            for p, values in waiting.items()
        ])  # fmt: skip
        patients.update(ids)
        waiting.clear()

    added = tuple(c for c in REGISTRY_COLUMNS if c not in FILE_COLUMNS)
    for raw in _records(path, FILE_COLUMNS, added + HARM_COLUMNS):
        values = _parse(raw, ENTRY_FIELDS, path, problems)
        patient = raw.get("patient_id")
        if values is None:
            continue
        if not patient:
            problems.add(path, raw[ROW], None, "patient_id is empty; the row was not loaded")
        elif patient in patients or patient in waiting:
            problems.add(path, raw[ROW], patient, "patient_id appears twice; the second row was not loaded")
        else:
            waiting[patient] = values
            if len(waiting) >= CHUNK:
                flush()
    if waiting:
        flush()
    return patients


def _load_rows(
    s: Session,
    model: type[Base],
    path: Path,
    records: Iterator[dict[str, Any]],
    fields: dict[str, Parser],
    patients: dict[str, int],
    snapshot_id: int,
    problems: Problems,
    dates: DateRange | None = None,
) -> None:
    """Typed rows of a per-patient file, for the snapshot's patients only (others are outside it); with
    `dates`, a start or end date outside them refuses the publication."""
    now = utc_now()
    rows = _Chunked(s, model)
    for raw in records:
        patient = patients.get(raw.get("patient_id") or "")  # "" is nobody: an empty id is refused
        if patient is None:
            continue
        if dates is not None:
            _check_dates(raw, path, dates)
        values = _parse(raw, fields, path, problems)
        if values is not None:
            rows.add(values | {"snapshot_id": snapshot_id, "patient_id": patient, "created_at": now})
    rows.flush()


def _carried(prescriptions_path: Path) -> Iterator[dict[str, Any]]:
    """Each prescription's rx_id and the columns its MME row takes from it, one batch held at a time."""
    for batch in read_batches(prescriptions_path, ("rx_id",), CARRIED_COLUMNS):
        yield from batch.select(["rx_id", *CARRIED_COLUMNS]).to_pylist()


def _with_prescriptions(
    mme_path: Path,
    mme_rows: Iterator[dict[str, Any]],
    prescriptions_path: Path | None,
    patients: dict[str, int],
) -> Iterator[dict[str, Any]]:
    """MME rows joined by position to the prescriptions they came from (drug, supply, prescriber, pharmacy).

    `taperwise mme` writes one row per input row, in input order, so the two files are read in step, a
    batch of each at a time; the rx_id of every pair that is published is checked.
    """
    if prescriptions_path is None:
        yield from mme_rows
        return
    source = _carried(prescriptions_path)
    for raw in mme_rows:
        origin = next(source, None)  # the prescription on the same row: both files advance together
        if raw.get("patient_id") not in patients:
            yield raw  # outside the snapshot: skipped, as it would be without the prescriptions
            continue
        if origin is None or origin.get("rx_id") != raw.get("rx_id"):
            raise UnusableInputError(
                f"{mme_path}: row {raw[ROW] + 1} (rx_id {raw.get('rx_id')!r}) does not match the same row "
                f"of {prescriptions_path}; pass the prescriptions file the MME rows were computed from"
            )
        carried = {k: origin.get(k) for k in CARRIED_COLUMNS}
        yield carried | {k: v for k, v in raw.items() if v not in (None, "")}


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
    dates = DateRange.from_metadata(metadata) or DateRange.from_environment()
    if s.get_bind().dialect.name == "postgresql":
        # The patient lookups run thousands of times while their table grows inside this transaction; the
        # driver prepares a repeated statement, and a plan made generic while the table was small scans it
        # whole each time (publishing grew with the square of the patients). A plan per execution sees
        # the table as it is. SET LOCAL: for this transaction only.
        s.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    organisation = ensure_organisation(s, organisation_code)
    problems = Problems()
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
        patients=0,  # counted as the rows are loaded
    )
    s.add(snapshot)
    s.flush()
    patients = _load_entries(s, registry_path, organisation.id, snapshot.id, problems)
    snapshot.patients = len(patients)
    segments = _records(segments_path, CONTRACT_SEGMENT_COLUMNS, SEGMENT_EXTRA_COLUMNS)
    _load_rows(
        s, TrajectorySegment, segments_path, segments, SEGMENT_FIELDS, patients, snapshot.id, problems, dates
    )
    if mme_rows_path is not None:
        mme_rows = _records(mme_rows_path, MME_ROW_COLUMNS)
        rows = _with_prescriptions(mme_rows_path, mme_rows, prescriptions_path, patients)
        fields = PRESCRIPTION_FIELDS
        _load_rows(s, PrescriptionRecord, mme_rows_path, rows, fields, patients, snapshot.id, problems, dates)
    if events_path is not None:
        events = _records(events_path, EVENT_COLUMNS[:3])
        _load_rows(s, HarmEvent, events_path, events, EVENT_FIELDS, patients, snapshot.id, problems)
    snapshot.problems_json = json.dumps(problems.rows, ensure_ascii=False)
    record_audit(s, published_by, "publish", "registry_snapshot", snapshot.id, None, None,
                 f"as_of={snapshot.as_of} patients={len(patients)} problems={len(problems.rows)} "
                 f"sha256={snapshot.source_sha256}", organisation_id=organisation.id)  # fmt: skip
    return snapshot
