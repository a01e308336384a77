"""OMOP ``drug_exposure`` (+ ``concept``, ``drug_strength``, ``visit_occurrence``) → canonical prescriptions.

One SQL statement joins the concepts and finds orders superseded by a dispense; rows then stream out in
batches. The de-duplication rule (ADR 0005): an *order* (``source = order``) is superseded when the same
person has a *dispense* of the same drug concept whose window — from `ORDER_LOOKBACK_DAYS` days before
the dispense date to the last day of its supply — contains the order's date. The dispense carries the
real fill date and days supply, so it is preferred; each superseded order is a problem line of kind
``order_superseded_by_dispense`` naming the dispense, never a silent drop.

Zero or missing ``quantity`` / ``days_supply`` is reported for the rows that enter a dose calculation
(opioids, buprenorphine, benzodiazepines) and passed through unchanged: the exposure engine decides what
it can compute, and nothing is guessed here. A value beyond `taperwise.plausible`'s ranges (1e20 days, a
start in 9999) is reported by the sink and written as given; such a dispense's window for finding its
order is its start date alone, as for a dispense with no days supply, so no date arithmetic can overflow.
``sig`` is free text and is not parsed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from taperwise.ingest.common import IngestSink
from taperwise.ingest.omop.concepts import OmopConcepts
from taperwise.ingest.omop.source import OmopSource, real_id
from taperwise.ingest.omop.strength import COUNTED_CLASSES, drug_class_of, strength_overrides
from taperwise.plausible import MAX_DAYS_SUPPLY

# An order is usually filled within a month of being written; a later dispense is a new fill.
ORDER_LOOKBACK_DAYS = 30
BATCH = 10_000
_COLUMNS = (
    "row_number",
    "rx_id",
    "person_id",
    "drug_concept_id",
    "start_date",
    "start_text",
    "days_supply",
    "quantity",
    "drug_type_concept_id",
    "provider_id",
    "drug_source_value",
    "concept_name",
    "vocabulary_id",
    "concept_code",
    "route_name",
    "source",
    "type_setting",
    "visit_concept_id",
    "superseded_by",
)


def _query(with_visits: bool) -> str:
    visit_join = (
        "LEFT JOIN visit_occurrence v ON v.visit_occurrence_id = de.visit_occurrence_id"
        if with_visits
        else "LEFT JOIN (SELECT NULL::VARCHAR AS visit_concept_id) v ON false"
    )
    return f"""
WITH exposures AS (
  SELECT row_number() OVER () AS row_number, de.drug_exposure_id AS rx_id, de.person_id,
         de.drug_concept_id, try_cast(left(trim(de.drug_exposure_start_date), 10) AS DATE) AS start_date,
         de.drug_exposure_start_date AS start_text, de.days_supply, de.quantity, de.drug_type_concept_id,
         de.provider_id, de.drug_source_value, c.concept_name, c.vocabulary_id, c.concept_code,
         rc.concept_name AS route_name, dt.source, dt.setting AS type_setting, v.visit_concept_id
  FROM drug_exposure de
  LEFT JOIN concept c ON c.concept_id = de.drug_concept_id
  LEFT JOIN concept rc ON rc.concept_id = de.route_concept_id
  LEFT JOIN omop_drug_types dt ON dt.concept_id = de.drug_type_concept_id
  {visit_join}
),
dispenses AS (
  SELECT person_id, drug_concept_id, start_date, rx_id,
         CASE WHEN try_cast(days_supply AS DOUBLE) > {MAX_DAYS_SUPPLY} THEN 1
              ELSE greatest(coalesce(try_cast(try_cast(days_supply AS DOUBLE) AS INTEGER), 0), 1) END AS days
  FROM exposures WHERE source = 'dispense' AND start_date IS NOT NULL
),
superseded AS (
  SELECT o.row_number, arg_min(d.rx_id, d.start_date) AS superseded_by
  FROM exposures o JOIN dispenses d
    ON o.person_id = d.person_id AND o.drug_concept_id = d.drug_concept_id
   AND o.start_date BETWEEN d.start_date - {ORDER_LOOKBACK_DAYS} AND d.start_date + (d.days - 1)
  WHERE o.source = 'order'
  GROUP BY o.row_number
)
SELECT e.row_number, e.rx_id, e.person_id, e.drug_concept_id, CAST(e.start_date AS VARCHAR), e.start_text,
       e.days_supply, e.quantity, e.drug_type_concept_id, e.provider_id, e.drug_source_value,
       e.concept_name, e.vocabulary_id, e.concept_code, e.route_name, e.source, e.type_setting,
       e.visit_concept_id, s.superseded_by
FROM exposures e LEFT JOIN superseded s USING (row_number)
ORDER BY e.person_id, e.start_date, e.rx_id, e.row_number
"""


def _register_drug_types(source: OmopSource, concepts: OmopConcepts) -> None:
    connection = source.connection
    connection.execute(
        "CREATE OR REPLACE TEMP TABLE omop_drug_types (concept_id VARCHAR, source VARCHAR, setting VARCHAR)"
    )
    rows = [(t.concept_id, t.source, t.setting or None) for t in concepts.drug_types.values()]
    connection.executemany("INSERT INTO omop_drug_types VALUES (?, ?, ?)", rows)


def _supply_problem(name: str, value: str | None) -> str | None:
    """Why a quantity or days supply cannot be used as it stands, or None."""
    if value is None or value.strip() == "":
        return f"{name} is missing"
    try:
        number = Decimal(value)
    except InvalidOperation:
        return f"{name} {value!r} is not a number"
    if not number.is_finite():
        return None  # NaN or infinity: reported by the sink's plausibility check
    if number < 0:
        return f"{name} {value} is negative"
    return f"{name} is zero" if number == 0 else None


class _DrugRows:
    """Turns one joined drug_exposure row into a canonical prescription or a problem."""

    def __init__(
        self, sink: IngestSink, concepts: OmopConcepts, overrides: dict[str, tuple[str, str]]
    ) -> None:
        self.sink = sink
        self.concepts = concepts
        self.overrides = overrides
        self.unknown_types: Counter[str] = Counter()

    def emit(self, row: dict[str, str | None]) -> None:
        sink = self.sink
        rx_id = row["rx_id"] or f"row {row['row_number']}"
        if row["superseded_by"]:
            sink.report(
                "drug_exposure",
                rx_id,
                "order_superseded_by_dispense",
                f"order of {row['start_text']} for concept {row['drug_concept_id']} is the same fill as "
                f"dispense {row['superseded_by']}; the dispense is kept",
            )
            return
        drug = self._drug(row, rx_id)
        if row["start_date"] is None:
            sink.report(
                "drug_exposure",
                rx_id,
                "bad_value",
                f"drug_exposure_start_date {row['start_text']!r} is not a date",
            )
        drug_class = drug_class_of(drug) if drug else None
        if drug_class in COUNTED_CLASSES:
            for column, kind in (
                ("quantity", "quantity_missing_or_zero"),
                ("days_supply", "days_supply_missing_or_zero"),
            ):
                problem = _supply_problem(column, row[column])
                if problem:
                    sink.report("drug_exposure", rx_id, kind, f"{drug}: {problem}; kept, not guessed")
        if row["source"] is None:
            self.unknown_types[row["drug_type_concept_id"] or ""] += 1
        strength, strength_unit = self.overrides.get(row["drug_concept_id"] or "", (None, None))
        inpatient = (
            row["type_setting"] == "inpatient" or row["visit_concept_id"] in self.concepts.inpatient_visits
        )
        sink.prescription(
            {
                "patient_id": row["person_id"],
                "rx_id": rx_id,
                "drug": drug,
                "start_date": row["start_date"] or row["start_text"],
                "days_supply": row["days_supply"],
                "quantity": row["quantity"],
                "rxcui": row["concept_code"] if row["vocabulary_id"] == "RxNorm" else None,
                "strength": strength,
                "strength_unit": strength_unit,
                "prescriber_id": real_id(row["provider_id"]),
                "source": row["source"],
                "setting": "inpatient" if inpatient else None,
                "route": self.concepts.routes.get((row["route_name"] or "").strip().lower()),
            },
            "drug_exposure",
        )

    def _drug(self, row: dict[str, str | None], rx_id: str) -> str | None:
        concept_id = row["drug_concept_id"]
        fallback = row["drug_source_value"]
        if concept_id in (None, "", "0"):
            self.sink.report(
                "drug_exposure",
                rx_id,
                "unmapped_concept",
                f"drug_concept_id is {concept_id or 'empty'}; drug_source_value {fallback!r} used",
            )
            return fallback
        if row["concept_name"] is None:
            self.sink.report(
                "drug_exposure",
                rx_id,
                "unknown_concept",
                f"drug_concept_id {concept_id} is not in the concept table; "
                f"drug_source_value {fallback!r} used",
            )
            return fallback
        return row["concept_name"]

    def report_unknown_types(self) -> None:
        for concept_id, count in sorted(self.unknown_types.items()):
            self.sink.report(
                "drug_exposure",
                f"drug_type_concept_id={concept_id or 'empty'}",
                "unknown_drug_type",
                f"{count} row(s) with a drug type taperwise does not map; their source is left empty "
                "(add it to knowledge/data/events/omop-drug-types.csv with a reference)",
            )


def read_drug_exposures(
    source: OmopSource, sink: IngestSink, concepts: OmopConcepts, on_progress: Callable[[int], None] | None
) -> None:
    """Stream every drug_exposure row to `sink` as a prescription or a problem."""
    _register_drug_types(source, concepts)
    names = dict(
        source.connection.execute(
            "SELECT DISTINCT c.concept_id, c.concept_name FROM concept c "
            "JOIN (SELECT DISTINCT drug_concept_id FROM drug_exposure) d ON d.drug_concept_id = c.concept_id"
        ).fetchall()
    )
    rows = _DrugRows(sink, concepts, strength_overrides(source, sink, names))
    cursor = source.connection.execute(_query(source.has("visit_occurrence")))
    while batch := cursor.fetchmany(BATCH):
        for values in batch:
            rows.emit(dict(zip(_COLUMNS, (None if v is None else str(v) for v in values), strict=True)))
        sink.read("drug_exposure", len(batch))
        if on_progress is not None:
            on_progress(len(batch))
    rows.report_unknown_types()
