"""A registry run's output at scale, written straight by DuckDB, for the publish benchmark.

Running the whole pipeline on 20M synthetic prescriptions selects about 3 patients in 10 for the registry,
so most prescription rows would be read and skipped. Publishing is measured here at its worst instead:
every patient is in the registry, so every prescription and every segment row is loaded. The shape:

- `patients` patients (`BP000000001`, …), each with `per_patient` prescriptions (default 10);
- `prescriptions.parquet`, the canonical prescriptions, in fill order (the first fill of every patient,
  then the second, …: like an extract sorted by date, so rows of one patient are far apart);
- `mme.parquet`, one per-row MME row per prescription in the same order, with the columns and types
  `registry --publish` keeps for the store (MME_COLUMNS, EXTRA_COLUMNS; daily MME DECIMAL(18, 4));
- `registry.parquet`, one row per patient with every registry column, and its metadata;
- `registry.segments.parquet`, one constant-MME segment per prescription (the fills do not overlap), in
  patient and date order as the registry writes them.

Values come from the registry's own column definitions, so the files follow the schema as it changes.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb

from taperwise.exposure.mme import EXTRA_COLUMNS, MME_COLUMNS
from taperwise.exposure.segments import SEGMENT_COLUMNS
from taperwise.registry_schema import REGISTRY_SCHEMA

AS_OF = dt.date(2025, 12, 31)
FIRST_FILL = dt.date(2023, 1, 2)
FILL_EVERY_DAYS = 35  # 30 days' supply, then a 5-day gap
DRUGS = (
    ("Oxycodone Hydrochloride 10 MG Oral Tablet", "oxycodone", 10, 1.5),
    ("Morphine Sulfate 15 MG Oral Tablet", "morphine", 15, 1.0),
    ("Hydrocodone Bitartrate 10 MG / Acetaminophen 325 MG Oral Tablet", "hydrocodone", 10, 1.0),
    ("Tramadol Hydrochloride 50 MG Oral Tablet", "tramadol", 50, 0.2),
)


@dataclass(frozen=True)
class RegistryOutput:
    """The files `publish` reads, and how many rows each holds."""

    folder: Path
    patients: int
    prescriptions: int

    @property
    def registry(self) -> Path:
        return self.folder / "registry.parquet"

    @property
    def metadata(self) -> Path:
        return self.folder / "registry.metadata.json"

    @property
    def segments(self) -> Path:
        return self.folder / "registry.segments.parquet"

    @property
    def mme_rows(self) -> Path:
        return self.folder / "mme.parquet"

    @property
    def prescriptions_file(self) -> Path:
        return self.folder / "prescriptions.parquet"

    @property
    def rows(self) -> int:
        """Rows a publish loads: registry entries, segments (one per prescription) and prescriptions."""
        return self.patients + 2 * self.prescriptions


def _lit(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _fills(patients: int, per_patient: int) -> str:
    """One row per prescription: i (file position), p (patient number), k (the patient's k-th fill)."""
    numbered = (
        f"SELECT i, i % {patients} AS p, i // {patients} AS k FROM range({patients * per_patient}) r(i)"
    )
    start = f"DATE {_lit(FIRST_FILL)} + CAST(k * {FILL_EVERY_DAYS} + p % 28 AS INTEGER)"
    return f"SELECT i, p, k, (p + k) % {len(DRUGS)} AS d, {start} AS start_date FROM ({numbered})"


def _case(column: str, values: list[object]) -> str:
    whens = " ".join(f"WHEN {n} THEN {_lit(v)}" for n, v in enumerate(values))
    return f"CASE {column} {whens} END"


def _patient_id(expr: str) -> str:
    return f"'BP' || lpad(CAST({expr} AS VARCHAR), 9, '0')"


def _daily_mme(drug: str, units: str) -> str:
    factor = _case(drug, [f for *_, f in DRUGS])
    strength = _case(drug, [s for _, _, s, _ in DRUGS])
    mme = f"CAST({strength} AS DECIMAL(18, 4)) * {units} * CAST({factor} AS DECIMAL(18, 4))"
    return f"CAST({mme} AS DECIMAL(18, 4))"


def _registry_value(name: str, kind: str, known: bool) -> str:
    """A plausible value of one registry column for patient p (unknown columns empty)."""
    if name == "patient_id":
        return _patient_id("p")
    if name == "priority":
        return "CAST(1 + p % 11 AS BIGINT)"
    if not known:
        return {"text": "CAST(NULL AS VARCHAR)", "int": "CAST(NULL AS BIGINT)", "bool": "p % 3 = 0"}.get(
            kind, "CAST(NULL AS DECIMAL(18, 4))"
        )
    return {
        "text": _lit("synthetic benchmark row"),
        "int": "CAST(p % 90 AS BIGINT)",
        "bool": "p % 2 = 0",
        "decimal": "CAST((p % 2400) / 10 AS DECIMAL(18, 4))",
    }[kind]


def write_registry_output(folder: Path, prescriptions: int, per_patient: int = 10) -> RegistryOutput:
    """Write the files for about `prescriptions` prescriptions (whole patients of `per_patient` each)."""
    folder.mkdir(parents=True, exist_ok=True)
    patients = max(1, prescriptions // per_patient)
    output = RegistryOutput(folder, patients, patients * per_patient)
    units = "CAST(2 + k % 3 AS DECIMAL(18, 4))"
    mme_values = {
        "rx_id": "'RX' || lpad(CAST(i AS VARCHAR), 10, '0')",
        "patient_id": _patient_id("p"),
        "ingredient": _case("d", [ingredient for _, ingredient, *_ in DRUGS]),
        "strength": f"CAST({_case('d', [s for _, _, s, _ in DRUGS])} AS DECIMAL(18, 4))",
        "strength_unit": "'mg'",
        "units_per_day": units,
        "covered_days": "CAST(30 AS BIGINT)",
        "mme_factor": f"CAST({_case('d', [f for *_, f in DRUGS])} AS DECIMAL(18, 4))",
        "factor_source": "'cdc-2022@2022.1:cdc-2022-table'",
        "daily_mme": _daily_mme("d", units),
        "status": "'ok'",
        "reason": "CAST(NULL AS VARCHAR)",
        "drug_class": "'opioid'",
        "route": "'oral'",
        "release": "'ir'",
        "start_date": "start_date",
        "end_date": "CAST(start_date + 29 AS DATE)",
        "supply": "'days_supply'",
    }
    mme_columns = ", ".join(
        f"{mme_values.get(name, 'CAST(NULL AS VARCHAR)')} AS {name}"
        for name in (*MME_COLUMNS, *EXTRA_COLUMNS)
    )
    segment_values = {
        "patient_id": _patient_id("p"),
        "start_date": "start_date",
        "end_date": "CAST(start_date + 29 AS DATE)",
        "daily_mme": _daily_mme("d", units),
        "n_opioids": "CAST(1 AS BIGINT)",
    }
    segment_columns = ", ".join(
        f"{segment_values.get(name, 'CAST(0 AS BIGINT)')} AS {name}" for name in SEGMENT_COLUMNS
    )
    registry_columns = ", ".join(
        f"{_registry_value(c.name, c.kind, c.known)} AS {c.name}" for c in REGISTRY_SCHEMA if not c.harm
    )
    fills = _fills(patients, per_patient)
    with duckdb.connect() as con:
        con.execute("SET preserve_insertion_order = true")
        con.execute(f"""COPY (
            SELECT {_patient_id("p")} AS patient_id, 'RX' || lpad(CAST(i AS VARCHAR), 10, '0') AS rx_id,
                   {_case("d", [text for text, *_ in DRUGS])} AS drug, start_date,
                   CAST(30 AS BIGINT) AS days_supply, CAST(30 * (2 + k % 3) AS DOUBLE) AS quantity,
                   'DR-' || CAST(p % 5000 AS VARCHAR) AS prescriber_id,
                   'PH-' || CAST(p % 2000 AS VARCHAR) AS pharmacy_id, 'dispense' AS source
            FROM ({fills}) ORDER BY i
        ) TO {_lit(output.prescriptions_file)}""")
        con.execute(f"COPY (SELECT {mme_columns} FROM ({fills}) ORDER BY i) TO {_lit(output.mme_rows)}")
        con.execute(
            f"COPY (SELECT {segment_columns} FROM ({fills}) ORDER BY p, k) TO {_lit(output.segments)}"
        )
        con.execute(
            f"COPY (SELECT {registry_columns} FROM range({patients}) AS r(p) ORDER BY 1 + p % 11, p) "
            f"TO {_lit(output.registry)}"
        )
    metadata = {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "engine": "synthetic (bench/publish_data.py)",
        "input": {"path": str(output.prescriptions_file), "sha256": None},
        "as_of": AS_OF.isoformat(),
        "patients": patients,
        "factor_set": {"id": "cdc-2022", "version": "2022.1"},
        "synthetic": {"prescriptions": output.prescriptions, "per_patient": per_patient},
    }
    output.metadata.write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    return output


def main() -> None:
    """python -m bench.publish_data FOLDER PRESCRIPTIONS (the benchmark writes its files in a process of
    their own, so that DuckDB's memory never sits in the process that starts the measured ones)."""
    output = write_registry_output(Path(sys.argv[1]), int(sys.argv[2]))
    print(f"{output.patients}\t{output.prescriptions}")


if __name__ == "__main__":
    main()
