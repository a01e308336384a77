"""Read a FHIR R4 export — bulk NDJSON, Bundles, single-resource JSON — into an `IngestSink`.

NDJSON is streamed line by line, as bytes, each line decoded on its own (`taperwise.ingest.text`): a line
that is not UTF-8, not JSON, nested too deeply or not a resource is a problem (``file:line``) and the next
line is read; a byte-order mark before the first line is accepted, and a compressed file that breaks off
is reported where it breaks. A Bundle is one JSON document and is loaded whole (Synthea writes one
Bundle per patient), through the same checks.

Two facts cross files: a Medication may sit in another file than the orders that reference it, and a
dispense replaces the order it names. So the files of a bulk export are read in passes, by the resource
type of each file (bulk data holds one type per file): Medication first (indexed), then the dispenses'
``authorizingPrescription`` references (collected, nothing written), then everything else, and the
dispenses last, when their orders' prescribers are known. Bundles are read the same way, one Bundle at
a time, after the bulk files. Memory grows with Medications and dispensed orders, not with rows.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from taperwise.errors import UnusableInputError
from taperwise.ingest.common import IngestSink, RowSink
from taperwise.ingest.fhir import events, prescriptions
from taperwise.ingest.fhir.context import IngestRun, Place
from taperwise.ingest.fhir.medication import MedicationIndex
from taperwise.ingest.fhir.references import Resolver, Resource
from taperwise.ingest.fhir.supply import check_assumed_days
from taperwise.ingest.text import BOM, RecordProblem, parse_json

Handler = Callable[[IngestRun, Place, Resource], None]
HANDLERS: dict[str, Handler] = {
    "Patient": events.read_patient,
    "MedicationRequest": prescriptions.read_request,
    "MedicationDispense": prescriptions.read_dispense,
    "MedicationStatement": prescriptions.read_statement,
    "MedicationAdministration": prescriptions.read_administration,
    "Encounter": events.read_encounter,
    "Condition": events.read_condition,
    "Observation": events.read_observation,
}
FIRST, LAST = "Medication", "MedicationDispense"
PROGRESS_EVERY = 10_000


class _Progress:
    def __init__(self, callback: Callable[[int], None] | None) -> None:
        self.callback = callback
        self.pending = 0

    def tick(self) -> None:
        self.pending += 1
        if self.callback is not None and self.pending >= PROGRESS_EVERY:
            self.flush()

    def flush(self) -> None:
        if self.callback is not None and self.pending:
            self.callback(self.pending)
        self.pending = 0


@dataclass
class _BulkFile:
    path: Path
    label: str
    resource_type: str | None  # of its first readable record; None when it has none
    single: bool = False  # a .json file holding one resource


def _open(path: Path) -> IO[bytes]:
    if path.name.endswith(".gz"):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


_NOT_A_RESOURCE = RecordProblem("malformed_json", "not a FHIR resource (no resourceType)")


def _as_resource(value: Any, problem: RecordProblem | None) -> tuple[Resource | None, RecordProblem | None]:
    if problem is not None:
        return None, problem
    if isinstance(value, dict) and isinstance(value.get("resourceType"), str):
        return value, None
    return None, _NOT_A_RESOURCE


def _raw_lines(handle: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) numbered as a text reader numbers them (a line ends at LF, CR LF or CR)."""
    number = 0
    for raw in handle:
        if number == 0 and raw.startswith(BOM):
            raw = raw[len(BOM) :]
        body = raw.removesuffix(b"\n").removesuffix(b"\r")
        for part in body.split(b"\r"):
            number += 1
            yield number, part


def _lines(path: Path) -> Iterator[tuple[int, Resource | None, RecordProblem | None]]:
    """(line number, resource, problem) for each non-blank line; the problem says why it is no resource."""
    number = 0
    try:
        with _open(path) as handle:
            for number, line in _raw_lines(handle):
                if not line.strip():
                    continue
                yield (number, *_as_resource(*parse_json(line)))
    except (OSError, EOFError, zlib.error) as exc:
        why = f"the file cannot be read from this line on ({exc}); the lines before it are read"
        yield number + 1, None, RecordProblem("unreadable_file", why)


def _document(path: Path) -> tuple[Any, RecordProblem | None]:
    """A whole-file JSON document, or why it cannot be read."""
    try:
        with _open(path) as handle:
            raw = handle.read()
    except (OSError, EOFError, zlib.error) as exc:
        return None, RecordProblem("unreadable_file", f"the file cannot be read ({exc})")
    return parse_json(raw)


def _records(bulk: _BulkFile) -> Iterator[tuple[str, Resource | None, RecordProblem | None]]:
    if bulk.single:
        value, problem = _document(bulk.path)
        yield bulk.label, value if isinstance(value, dict) else None, problem
        return
    for number, resource, problem in _lines(bulk.path):
        yield f"{bulk.label}:{number}", resource, problem


def _files(source: Path) -> list[Path]:
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise UnusableInputError(f"{source}: no such file or folder")
    wanted = (".ndjson", ".ndjson.gz", ".jsonl", ".json", ".json.gz")
    files = sorted(p for p in source.rglob("*") if p.is_file() and p.name.lower().endswith(wanted))
    if not files:
        raise UnusableInputError(f"{source}: no .ndjson or .json files in this folder")
    return files


def _is_ndjson(path: Path) -> bool:
    return path.name.lower().removesuffix(".gz").endswith((".ndjson", ".jsonl"))


def _sniff(path: Path, label: str) -> _BulkFile:
    for _, resource, _ in _lines(path):
        if resource is not None:
            return _BulkFile(path, label, resource["resourceType"])
    return _BulkFile(path, label, None)


def _handle(run: IngestRun, place: Place, resource: Resource, progress: _Progress) -> None:
    kind = resource["resourceType"]
    run.sink.read(kind)
    progress.tick()
    if kind == FIRST:
        place.medications.add(resource)
        return
    handler = HANDLERS.get(kind)
    if handler is None:
        run.unused_types[kind] += 1
    else:
        handler(run, place, resource)


def _collect_dispensed(run: IngestRun, place: Place, resource: Resource) -> None:
    dispense_id = str(resource.get("id") or "")
    for order in prescriptions.authorising_orders(resource, place):
        run.dispensed.setdefault(order, []).append(dispense_id)


def _read_bulk(run: IngestRun, files: list[_BulkFile], progress: _Progress) -> None:
    resolver = Resolver()

    def place(source: str) -> Place:
        return Place(source, resolver, run.medications)

    for bulk in files:
        if bulk.resource_type == LAST:
            for source, resource, _ in _records(bulk):
                if resource is not None and resource["resourceType"] == LAST:
                    _collect_dispensed(run, place(source), resource)
    order = [f for f in files if f.resource_type == FIRST]
    order += [f for f in files if f.resource_type not in (FIRST, LAST)]
    order += [f for f in files if f.resource_type == LAST]
    for bulk in order:
        mixed = 0
        for source, resource, problem in _records(bulk):
            if resource is None:
                problem = problem or _NOT_A_RESOURCE
                run.sink.report(source, "", problem.kind, f"line skipped: {problem.message}")
                continue
            mixed += resource["resourceType"] != bulk.resource_type
            _handle(run, place(source), resource, progress)
        if mixed and not bulk.single:
            run.sink.report(
                bulk.label,
                "",
                "mixed_resource_types",
                f"{mixed} record(s) are not {bulk.resource_type}: bulk files hold one type each, so "
                "references across them may not resolve and fills may not be de-duplicated",
            )


def _read_bundle(run: IngestRun, label: str, bundle: Resource, progress: _Progress) -> None:
    entries = [e for e in bundle.get("entry") or [] if isinstance(e, dict)]
    resolver = Resolver.for_bundle(entries)
    medications = MedicationIndex(fallback=run.medications)
    located: list[tuple[str, Resource]] = []
    for number, entry in enumerate(entries):
        source = f"{label}#entry[{number}]"
        resource = entry.get("resource")
        if isinstance(resource, dict) and isinstance(resource.get("resourceType"), str):
            located.append((source, resource))
        else:
            url = str(entry.get("fullUrl") or "")
            run.sink.report(source, url, "not_a_resource", "Bundle entry holds no resource")
    for source, resource in located:
        if resource["resourceType"] == LAST:
            _collect_dispensed(run, Place(source, resolver, medications), resource)

    def rank(item: tuple[str, Resource]) -> tuple[bool, bool]:
        return item[1]["resourceType"] != FIRST, item[1]["resourceType"] == LAST

    ordered = sorted(located, key=rank)
    for source, resource in ordered:
        _handle(run, Place(source, resolver, medications), resource, progress)


def read_fhir(
    source: Path,
    sink: IngestSink,
    on_progress: Callable[[int], None] | None = None,
    *,
    assume_order_days: int | None = None,
) -> None:
    """Read FHIR R4 resources from `source` into `sink`, reporting every record that cannot be used.

    `source` is a bulk-data folder of NDJSON files (any names, ``.ndjson``/``.jsonl``, optionally
    ``.gz``), one such file, a Bundle ``.json``, a single-resource ``.json``, or a folder of any of these
    (Synthea writes one Bundle per patient). `on_progress` is called with the number of records read
    since its previous call (every 10,000 records and at the end), as ``rich.progress.advance`` takes.
    `assume_order_days` (``--assume-order-days``, off when None) gives that many days to an order whose
    record allows no duration and whose sig gives a daily dose; such rows say ``supply_days_source =
    assumed`` (supply.py). Raises `UnusableInputError` only when `source` does not exist or holds no such
    file, `RequestValidationError` when `assume_order_days` is not from 1 to 365.
    """
    assumed = None if assume_order_days is None else check_assumed_days(assume_order_days)
    base = source if source.is_dir() else source.parent
    run = IngestRun(sink, assume_order_days=assumed)
    progress = _Progress(on_progress)
    bulk: list[_BulkFile] = []
    bundles: list[tuple[Path, str]] = []
    for path in _files(source):
        label = path.relative_to(base).as_posix()
        if _is_ndjson(path):
            bulk.append(_sniff(path, label))
            continue
        kind, problem = _json_kind(path)
        if kind == "Bundle":
            bundles.append((path, label))
        elif kind is None:
            why = f": {problem.message}" if problem else ""
            sink.report(
                label, "", problem.kind if problem else "malformed_json",
                f"the file is not a JSON FHIR resource or Bundle{why}",
            )  # fmt: skip
        else:
            bulk.append(_BulkFile(path, label, kind, single=True))
    _read_bulk(run, bulk, progress)
    for path, label in bundles:
        bundle, _ = _document(path)  # read once already by _json_kind, so a Bundle
        if isinstance(bundle, dict):
            _read_bundle(run, label, bundle, progress)
    _finish(run)
    progress.flush()


def read_resources(
    resources: Sequence[object],
    sink: RowSink,
    label: str,
    *,
    assume_order_days: int | None = None,
) -> None:
    """Read resources already in memory (a CDS Hooks call's prefetch and draft orders) into `sink`, as
    the entries of one Bundle named `label`: references resolve between them, Medications are found
    whatever their place, a dispense replaces the order it names, and every entry that cannot be used is
    reported (``label#entry[i]``) while the rest are read."""
    assumed = None if assume_order_days is None else check_assumed_days(assume_order_days)
    run = IngestRun(sink, assume_order_days=assumed)
    bundle = {"resourceType": "Bundle", "entry": [{"resource": resource} for resource in resources]}
    _read_bundle(run, label, bundle, _Progress(None))
    _finish(run)


def _json_kind(path: Path) -> tuple[str | None, RecordProblem | None]:
    """The resourceType of a whole-file JSON document, or None and why it is not one."""
    value, problem = _document(path)
    kind = value.get("resourceType") if isinstance(value, dict) else None
    return (kind, None) if isinstance(kind, str) else (None, problem)


def _finish(run: IngestRun) -> None:
    """Summary problems: what was read but has no use here, and events recorded more than once."""
    for kind, count in sorted(run.unused_types.items()):
        run.sink.report(
            "(all files)",
            kind,
            "resource_type_not_used",
            f"{count} {kind} record(s) read; taperwise takes no data from this type",
        )
    if run.events_merged:
        run.sink.report(
            "(all files)",
            "",
            "duplicate_event",
            f"{run.events_merged} event(s) repeated one already written (same patient, date, "
            "kind and code, e.g. a Condition and its Encounter's reason) and were written once",
        )
    for order, dispenses in sorted(run.dispensed.items()):
        if order not in run.superseded:
            run.sink.report(
                "(all files)",
                f"MedicationDispense/{dispenses[0]}",
                "order_not_found",
                f"authorizingPrescription MedicationRequest/{order} was not found (or not usable) "
                "in the export; the dispense row has no prescriber from it",
            )
