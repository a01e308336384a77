"""A folder of OMOP CDM 5.4 tables as CSV (lower-case column names, one file per table).

Tables: person, drug_exposure, concept, death, visit_occurrence, condition_occurrence, care_site,
provider — every column of the 5.4 DDL in DDL order, required columns always filled. Conventions:

- Drug concepts are local, ids from 2,000,000,001 (the range OMOP leaves to local concepts), one per
  product name with vocabulary ``RxNorm`` (US) or ``dm+d`` (UK) and a synthetic ``concept_code``
  (``TW-…``): real RxCUIs and dm+d codes are never invented. Claim-style fills map to the RxNorm
  concept of the same product and keep the claim text in ``drug_source_value`` (when it fits the
  50-character column; longer texts are carried by the concept only).
- Diagnosis codes (ICD-10-CM in the US, WHO ICD-10 in the UK) are local concepts too, from
  2,100,000,001, with the real code in ``concept_code`` and ``condition_source_value``.
- OMOP standard concepts used by id: gender 8507/8532, visit 9203 (Emergency Room Visit), type concepts
  32817 (EHR), 32825 (EHR dispensing record), 32020 (EHR encounter diagnosis), and 0; ``concept.csv``
  lists those whose codes are known here (not 32825 and 32020: codes are never typed from memory).
- ``drug_exposure_end_date`` = start + days_supply − 1; when days_supply is missing it equals the start.
Malformed records keep their corruption: a negative ``quantity``, an empty ``days_supply``,
``drug_concept_id`` 0 for an unknown drug, an impossible date, a repeated ``drug_exposure_id``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from taperwise.synth.events import NO_DEATH
from taperwise.synth.generator import Batch, SynthContext
from taperwise.synth.tables import bad_dates, dates, kind_rows, numbers, patient_ids, texts, unknown_drugs
from taperwise.synth.tables import variant_index as fill_variants

COLUMNS = {
    "person": (
        "person_id",
        "gender_concept_id",
        "year_of_birth",
        "month_of_birth",
        "day_of_birth",
        "birth_datetime",
        "race_concept_id",
        "ethnicity_concept_id",
        "location_id",
        "provider_id",
        "care_site_id",
        "person_source_value",
        "gender_source_value",
        "gender_source_concept_id",
        "race_source_value",
        "race_source_concept_id",
        "ethnicity_source_value",
        "ethnicity_source_concept_id",
    ),
    "drug_exposure": (
        "drug_exposure_id",
        "person_id",
        "drug_concept_id",
        "drug_exposure_start_date",
        "drug_exposure_start_datetime",
        "drug_exposure_end_date",
        "drug_exposure_end_datetime",
        "verbatim_end_date",
        "drug_type_concept_id",
        "stop_reason",
        "refills",
        "quantity",
        "days_supply",
        "sig",
        "route_concept_id",
        "lot_number",
        "provider_id",
        "visit_occurrence_id",
        "visit_detail_id",
        "drug_source_value",
        "drug_source_concept_id",
        "route_source_value",
        "dose_unit_source_value",
    ),
    "concept": (
        "concept_id",
        "concept_name",
        "domain_id",
        "vocabulary_id",
        "concept_class_id",
        "standard_concept",
        "concept_code",
        "valid_start_date",
        "valid_end_date",
        "invalid_reason",
    ),
    "death": (
        "person_id",
        "death_date",
        "death_datetime",
        "death_type_concept_id",
        "cause_concept_id",
        "cause_source_value",
        "cause_source_concept_id",
    ),
    "visit_occurrence": (
        "visit_occurrence_id",
        "person_id",
        "visit_concept_id",
        "visit_start_date",
        "visit_start_datetime",
        "visit_end_date",
        "visit_end_datetime",
        "visit_type_concept_id",
        "provider_id",
        "care_site_id",
        "visit_source_value",
        "visit_source_concept_id",
        "admitted_from_concept_id",
        "admitted_from_source_value",
        "discharged_to_concept_id",
        "discharged_to_source_value",
        "preceding_visit_occurrence_id",
    ),
    "condition_occurrence": (
        "condition_occurrence_id",
        "person_id",
        "condition_concept_id",
        "condition_start_date",
        "condition_start_datetime",
        "condition_end_date",
        "condition_end_datetime",
        "condition_type_concept_id",
        "condition_status_concept_id",
        "stop_reason",
        "provider_id",
        "visit_occurrence_id",
        "visit_detail_id",
        "condition_source_value",
        "condition_source_concept_id",
        "condition_status_source_value",
    ),
    "care_site": (
        "care_site_id",
        "care_site_name",
        "place_of_service_concept_id",
        "location_id",
        "care_site_source_value",
        "place_of_service_source_value",
    ),
    "provider": (
        "provider_id",
        "provider_name",
        "npi",
        "dea",
        "specialty_concept_id",
        "care_site_id",
        "year_of_birth",
        "gender_concept_id",
        "provider_source_value",
        "specialty_source_value",
        "specialty_source_concept_id",
        "gender_source_value",
        "gender_source_concept_id",
    ),
}
DRUG_CONCEPT_BASE = 2_000_000_001
EVENT_CONCEPT_BASE = 2_100_000_001
MALE, FEMALE, ER_VISIT, EHR, EHR_DISPENSING, EHR_ENCOUNTER_DIAGNOSIS = 8507, 8532, 9203, 32817, 32825, 32020
# Only concepts whose codes are known here are listed; type concepts are referenced by id alone.
_STANDARD_CONCEPTS = (
    (0, "No matching concept", "Metadata", "None", "Undefined", "", "No matching concept"),
    (MALE, "MALE", "Gender", "Gender", "Gender", "S", "M"),
    (FEMALE, "FEMALE", "Gender", "Gender", "Gender", "S", "F"),
    (ER_VISIT, "Emergency Room Visit", "Visit", "Visit", "Visit", "S", "ER"),
    (EHR, "EHR", "Type Concept", "Type Concept", "Type Concept", "S", "OMOP4976890"),
)
_VOCABULARY = {"http://hl7.org/fhir/sid/icd-10-cm": "ICD10CM", "http://hl7.org/fhir/sid/icd-10": "ICD10"}
DIAGNOSIS_KINDS = ("opioid_overdose", "mental_health_crisis")


def _condition_class(vocabulary: str, code: str) -> str:
    """OMOP's concept class for an ICD code: ICD10CM by code length, WHO ICD10 one class."""
    if vocabulary == "ICD10CM":
        return f"{len(code.replace('.', ''))}-char billing code"
    return "ICD10 code"


def _table(name: str, columns: dict[str, pa.Array], rows: int) -> pa.Table:
    return pa.table({c: columns.get(c, pa.nulls(rows, pa.string())) for c in COLUMNS[name]})


def _const(value: object, rows: int) -> pa.Array:
    return pa.array([str(value)] * rows, pa.string())


class OmopWriter:
    def __init__(self, context: SynthContext, folder: Path) -> None:
        self.context = context
        folder.mkdir(parents=True, exist_ok=True)
        self.paths = {name: folder / f"{name}.csv" for name in COLUMNS}
        options = pacsv.WriteOptions(quoting_style="needed")
        self._writers = {
            name: pacsv.CSVWriter(
                path, pa.schema([(c, pa.string()) for c in COLUMNS[name]]), write_options=options
            )
            for name, path in self.paths.items()
        }
        self._rows = 0
        self._visits = 0
        products = context.products
        # Claim-style variants share the RxNorm concept of their product.
        self._concept_of = np.array(
            [
                products.variant_of[p, 0] if style == "claim" else v
                for v, (p, style, _) in enumerate(products.variants)
            ]
        )
        self._write_static()

    def _put(self, name: str, columns: dict[str, pa.Array], rows: int) -> None:
        self._writers[name].write_table(_table(name, columns, rows))

    def _write_static(self) -> None:
        context = self.context
        rows: list[tuple[object, ...]] = list(_STANDARD_CONCEPTS)
        for v, (_, style, text) in enumerate(context.products.variants):
            if style == "claim":
                continue
            drug_vocabulary, drug_class = ("dm+d", "VMP") if style == "dmd" else ("RxNorm", "Clinical Drug")
            rows.append(
                (DRUG_CONCEPT_BASE + v, text, "Drug", drug_vocabulary, drug_class, "", f"TW-{v + 1:04d}")
            )
        for e, code in enumerate(context.config.events):
            vocabulary = _VOCABULARY.get(code.code_system)
            if code.kind in DIAGNOSIS_KINDS and vocabulary:
                klass = _condition_class(vocabulary, code.code)
                rows.append(
                    (EVENT_CONCEPT_BASE + e, code.display, "Condition", vocabulary, klass, "", code.code)
                )
        names = COLUMNS["concept"][:7]
        columns = {n: pa.array([str(r[i]) for r in rows], pa.string()) for i, n in enumerate(names)}
        columns["valid_start_date"] = _const("1970-01-01", len(rows))
        columns["valid_end_date"] = _const("2099-12-31", len(rows))
        columns["standard_concept"] = pa.array([r[5] or None for r in rows], pa.string())
        self._put("concept", columns, len(rows))
        staff = context.staff
        org_ids = np.arange(len(staff.organisations))
        self._put(
            "care_site",
            {
                "care_site_id": numbers(org_ids + 1),
                "care_site_name": pa.array(list(staff.organisation_names)),
                "care_site_source_value": pa.array(list(staff.organisations)),
            },
            len(org_ids),
        )
        doctors = np.arange(len(staff.prescribers))
        self._put(
            "provider",
            {
                "provider_id": numbers(doctors + 1),
                "provider_name": pa.array([f"Synthetic prescriber {p}" for p in staff.prescribers]),
                "care_site_id": numbers(staff.prescriber_organisation + 1),
                "provider_source_value": pa.array(list(staff.prescribers)),
            },
            len(doctors),
        )

    def write(self, batch: Batch) -> None:
        self._person(batch)
        self._drug_exposure(batch)
        self._events(batch)

    def _person(self, batch: Batch) -> None:
        people, context = batch.people, self.context
        birth = context.epoch + people.birth_day.astype("timedelta64[D]")
        year = birth.astype("datetime64[Y]").astype(np.int64) + 1970
        month = birth.astype("datetime64[M]").astype(np.int64) % 12 + 1
        day = (birth - birth.astype("datetime64[M]")).astype(np.int64) + 1
        rows = len(people)
        self._put(
            "person",
            {
                "person_id": numbers(people.index + 1),
                "gender_concept_id": numbers(np.where(people.female, FEMALE, MALE)),
                "year_of_birth": numbers(year),
                "month_of_birth": numbers(month),
                "day_of_birth": numbers(day),
                "race_concept_id": _const(0, rows),
                "ethnicity_concept_id": _const(0, rows),
                "care_site_id": numbers(people.organisation + 1),
                "person_source_value": patient_ids(context, people.index),
                "gender_source_value": texts(["M", "F"], people.female.astype(np.int64)),
            },
            rows,
        )
        dead = np.flatnonzero(batch.death_day < NO_DEATH)
        self._put(
            "death",
            {
                "person_id": numbers(people.index[dead] + 1),
                "death_date": dates(context, batch.death_day[dead]),
                "death_type_concept_id": _const(EHR, len(dead)),
            },
            len(dead),
        )

    def _drug_exposure(self, batch: Batch) -> None:
        context, fills = self.context, batch.fills
        rows = len(fills)
        products = context.products
        variant = fill_variants(context, batch)
        concept = DRUG_CONCEPT_BASE + self._concept_of[variant]
        source = [text if len(text) <= 50 else None for _, _, text in products.variants]
        ident = np.arange(self._rows, self._rows + rows) + 1
        self._rows += rows
        days = fills.days_supply.copy()
        end_day = fills.start_day + days - 1
        columns = {
            "person_id": numbers(batch.people.index[fills.person] + 1),
            "drug_type_concept_id": _const(EHR_DISPENSING, rows),
            "refills": _const(0, rows),
            "route_concept_id": _const(0, rows),
            "drug_source_concept_id": _const(0, rows),
            "provider_id": numbers(fills.prescriber + 1),
            "sig": texts(
                [p.sig.text for p in products.products], np.where(batch.structured, fills.product, -1)
            ),
            "route_source_value": texts([p.route for p in products.products], fills.product),
            "dose_unit_source_value": texts([p.dose_unit for p in products.products], fills.product),
            "drug_source_value": pa.array(np.array(source, dtype=object)[variant], pa.string()),
        }
        missing = kind_rows(context, batch, "missing_days_supply")
        end_day[missing] = fills.start_day[missing]
        quantity = fills.quantity.copy()
        quantity[kind_rows(context, batch, "negative_quantity")] *= -1
        unknown = kind_rows(context, batch, "unknown_drug")
        concept[unknown] = 0
        repeated = kind_rows(context, batch, "duplicate_rx_id")
        ident[repeated] = ident[repeated - 1]
        start, end = dates(context, fills.start_day).to_pylist(), dates(context, end_day).to_pylist()
        bad = kind_rows(context, batch, "bad_date")
        for row, text in zip(bad, bad_dates(context, batch, bad), strict=True):
            start[row] = end[row] = text
        supply = numbers(days).to_pylist()
        for row in missing:
            supply[row] = None
        drug_source = columns["drug_source_value"].to_pylist()
        for row, text in zip(unknown, unknown_drugs(context, unknown), strict=True):
            drug_source[row] = text
        columns.update(
            {
                "drug_exposure_id": numbers(ident),
                "drug_concept_id": numbers(concept),
                "drug_exposure_start_date": pa.array(start, pa.string()),
                "drug_exposure_end_date": pa.array(end, pa.string()),
                "quantity": numbers(quantity),
                "days_supply": pa.array(supply, pa.string()),
                "drug_source_value": pa.array(drug_source, pa.string()),
            }
        )
        self._put("drug_exposure", columns, rows)

    def _events(self, batch: Batch) -> None:
        events, context = batch.events, self.context
        visit_rows = np.flatnonzero(events.kind == 0)
        visit_id = np.full(int(events.encounter.max(initial=-1)) + 1, -1, dtype=np.int64)
        visit_id[events.encounter[visit_rows]] = self._visits + np.arange(len(visit_rows)) + 1
        self._visits += len(visit_rows)
        person = batch.people.index[events.person] + 1
        day = dates(context, events.day)
        self._put(
            "visit_occurrence",
            {
                "visit_occurrence_id": numbers(visit_id[events.encounter[visit_rows]]),
                "person_id": numbers(person[visit_rows]),
                "visit_concept_id": _const(ER_VISIT, len(visit_rows)),
                "visit_start_date": pc.take(day, pa.array(visit_rows)),
                "visit_end_date": pc.take(day, pa.array(visit_rows)),
                "visit_type_concept_id": _const(EHR, len(visit_rows)),
                "visit_source_value": _const("EMER", len(visit_rows)),
            },
            len(visit_rows),
        )
        found = np.flatnonzero((events.kind == 1) | (events.kind == 2))
        concept = numbers(EVENT_CONCEPT_BASE + events.code[found])
        self._put(
            "condition_occurrence",
            {
                "condition_occurrence_id": numbers(visit_id[events.encounter[found]]),
                "person_id": numbers(person[found]),
                "condition_concept_id": concept,
                "condition_start_date": pc.take(day, pa.array(found)),
                "condition_type_concept_id": _const(EHR_ENCOUNTER_DIAGNOSIS, len(found)),
                "visit_occurrence_id": numbers(visit_id[events.encounter[found]]),
                "condition_source_value": texts([c.code for c in context.config.events], events.code[found]),
                "condition_source_concept_id": concept,
            },
            len(found),
        )

    def close(self) -> list[Path]:
        for writer in self._writers.values():
            writer.close()
        return list(self.paths.values())
