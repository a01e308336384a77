"""What the record handlers share during one ingest run, and where each record came from."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from taperwise.ingest.common import Row, RowSink
from taperwise.ingest.fhir.medication import MedicationIndex
from taperwise.ingest.fhir.references import Resolver


@dataclass(frozen=True)
class OrderFacts:
    """What a superseded MedicationRequest still tells its dispenses: who prescribed, and the sig."""

    prescriber_id: str | None
    units_per_day: str | None
    as_needed: str | None
    route: str | None
    sig_bounds_days: int | None = None  # the course the sig's bounds give (supply.py), for a dispense


@dataclass(frozen=True)
class Place:
    """Where a record sits (``file:line`` or ``file#entry[i]``) and how its references resolve."""

    source: str
    resolver: Resolver
    medications: MedicationIndex


@dataclass
class IngestRun:
    """State kept across files: the only things that cannot be decided one record at a time."""

    sink: RowSink
    medications: MedicationIndex = field(default_factory=MedicationIndex)
    # MedicationRequest id → ids of the dispenses that name it in authorizingPrescription.
    dispensed: dict[str, list[str]] = field(default_factory=dict)
    superseded: dict[str, OrderFacts] = field(default_factory=dict)
    events_seen: set[tuple[str, str, str, str]] = field(default_factory=set)
    events_merged: int = 0
    unused_types: Counter[str] = field(default_factory=Counter)
    # --assume-order-days: days given to an order whose record allows no duration (supply.py); None = off.
    assume_order_days: int | None = None

    def report(self, place: Place, record: object, kind: str, message: str) -> None:
        self.sink.report(place.source, record if isinstance(record, str) else "", kind, message)

    def event(self, row: Row) -> None:
        key = (str(row["patient_id"]), str(row["date"]), str(row["kind"]), str(row.get("code") or ""))
        if key in self.events_seen:
            self.events_merged += 1
            return
        self.events_seen.add(key)
        self.sink.event(row)
