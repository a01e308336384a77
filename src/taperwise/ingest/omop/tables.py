"""The OMOP CDM tables and columns the reader uses, and which of them it cannot do without.

Only `drug_exposure` and `concept` are indispensable: without them there is nothing to read. Every other
table adds detail (strengths, patients, harm events); its absence is reported as one problem line and the
ingest goes on. Column names are compared in lower case, as CDM 5.3/5.4 DDL, Athena exports and the
Eunomia data set spell them in either case.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TableSpec:
    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    essential: bool = False  # the ingest cannot run without it

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional


TABLES = (
    TableSpec(
        "drug_exposure",
        ("drug_exposure_id", "person_id", "drug_concept_id", "drug_exposure_start_date"),
        (
            "days_supply",
            "quantity",
            "drug_type_concept_id",
            "route_concept_id",
            "provider_id",
            "visit_occurrence_id",
            "drug_source_value",
        ),
        essential=True,
    ),
    TableSpec("concept", ("concept_id", "concept_name"), ("vocabulary_id", "concept_code"), essential=True),
    TableSpec(
        "drug_strength",
        ("drug_concept_id", "ingredient_concept_id"),
        (
            "amount_value",
            "amount_unit_concept_id",
            "numerator_value",
            "numerator_unit_concept_id",
            "denominator_value",
            "denominator_unit_concept_id",
        ),
    ),
    TableSpec(
        "person",
        ("person_id",),
        (
            "gender_concept_id",
            "year_of_birth",
            "month_of_birth",
            "day_of_birth",
            "birth_datetime",
            "care_site_id",
            "location_id",
        ),
    ),
    TableSpec("death", ("person_id", "death_date"), ("cause_concept_id", "cause_source_value")),
    TableSpec(
        "visit_occurrence", ("visit_occurrence_id", "person_id", "visit_concept_id", "visit_start_date")
    ),
    TableSpec(
        "condition_occurrence",
        ("condition_occurrence_id", "person_id", "condition_concept_id", "condition_start_date"),
        ("condition_source_value", "condition_source_concept_id"),
    ),
)
TABLES_BY_NAME = {spec.name: spec for spec in TABLES}
