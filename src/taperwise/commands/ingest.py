"""`taperwise ingest fhir|omop|csv SOURCE -o PRESCRIPTIONS.parquet`: EHR exports to canonical tables.

Each verb streams its source into an `IngestSink`, then prints an honest summary: records read by type,
prescriptions written, how many are opioids (read by the same product parser as the MME engine),
patients, how each row's supply duration was obtained, any assumption in force, and problems by kind; the
same goes into ``OUT-stem.ingest.json``. Exit code 0 whenever the source could be read at all; 2 when it
could not (or an option is out of range).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from taperwise.console import err_console, fail, stages
from taperwise.errors import TaperwiseError
from taperwise.ingest.fhir.supply import ASSUME_OPTION, MAX_SUPPLY_DAYS, check_assumed_days
from taperwise.knowledge.model import DrugClass, ParseFailure
from taperwise.paths import check_not_input

if TYPE_CHECKING:
    from taperwise.ingest.common import IngestSink

# The readers (Arrow, DuckDB, FHIR parsing) are imported inside the verbs that run them.

app = typer.Typer(no_args_is_help=True)
OutputOpt = Annotated[
    Path,
    typer.Option(
        "-o", "--output", help="Canonical prescriptions out (.parquet or .csv); other files beside it"
    ),
]


def drug_classes(prescriptions: Path) -> Counter[str]:
    """Prescriptions written, by what the parser reads their product as (one parse per distinct text)."""
    import pyarrow.parquet as pq

    from taperwise.exposure.prescriptions import read_table_file
    from taperwise.knowledge.parser import parse_product

    if prescriptions.suffix.lower() == ".parquet":
        drugs = pq.read_table(prescriptions, columns=["drug"]).column("drug").to_pylist()
    else:
        drugs = read_table_file(prescriptions, ("drug",), ()).column("drug").to_pylist()
    per_text = Counter(drugs)
    classes: Counter[str] = Counter()
    for text, count in per_text.items():
        parsed = parse_product(text) if text else ParseFailure("", "empty")
        name = "unrecognized" if isinstance(parsed, ParseFailure) else parsed.drug_class.value
        classes[name] += count
    return classes


def print_summary(sink: IngestSink) -> None:
    classes = drug_classes(sink.paths["prescriptions"])
    from rich.table import Table

    table = Table(title="ingest summary", show_header=False, title_justify="left")
    for record_type, count in sorted(sink.records_read.items()):
        table.add_row(f"read: {record_type}", f"{count:,}")
    table.add_row("prescriptions written", f"{sum(classes.values()):,}")
    opioids = classes[DrugClass.OPIOID.value] + classes[DrugClass.BUPRENORPHINE.value]
    table.add_row("  opioid (buprenorphine included)", f"{opioids:,}")
    for name in (DrugClass.BENZODIAZEPINE.value, DrugClass.OTHER.value, "unrecognized"):
        table.add_row(f"  {name}", f"{classes[name]:,}")
    table.add_row("patients with prescriptions", f"{len(sink.patient_ids):,}")
    for source, count in sorted(sink.supply_days_sources.items()):
        if source:
            table.add_row(f"supply days: {source}", f"{count:,}")
    for item in sink.metadata()["assumptions"]:
        table.add_row(f"ASSUMED: {item['option']} {item['days']}", f"{item.get('rows', 0):,} rows")
    for kind, count in sorted(sink.problem_kinds.items()):
        table.add_row(f"problem: {kind}", f"{count:,}")
    err_console.print(table)
    for name, path in sink.paths.items():
        err_console.print(f"{name}: {path}", highlight=False)


def _run(
    output: Path,
    read: Callable[[IngestSink, Callable[[int], None]], None],
    provenance: dict[str, object],
    source: Path | None = None,
) -> None:
    """Ingest into `output` and its siblings; `source`, a file or folder read, is never written over."""
    from taperwise.ingest.common import IngestSink

    try:
        if source is not None:
            check_not_input(source, *IngestSink.paths_for(output).values())
        with stages() as progress, IngestSink(output) as sink:
            sink.provenance = provenance
            progress.start("reading records")
            read(sink, progress.advance)
    except TaperwiseError as exc:
        fail(str(exc))
        raise typer.Exit(2) from exc
    print_summary(sink)


@app.command()
def fhir(
    source: Annotated[
        Path, typer.Argument(help="Bulk-data NDJSON folder or file, a Bundle, or a folder of them")
    ],
    output: OutputOpt,
    assume_order_days: Annotated[
        str | None,
        typer.Option(
            ASSUME_OPTION,
            metavar="N",
            help=f"Off by default. Give N days (1-{MAX_SUPPLY_DAYS}) to an order whose record allows no "
            "duration but whose sig gives a daily dose; each such row says supply_days_source=assumed, "
            "and the assumption is named in the summary and OUT-stem.ingest.json",
        ),
    ] = None,
) -> None:
    """FHIR R4: MedicationRequest/Dispense/Statement/Administration, Medication, Patient, harm events.

    Supply duration, first usable: stated (expectedSupplyDuration, daysSupply), quantity / units per day,
    the sig's boundsDuration/boundsPeriod, then --assume-order-days for orders when given.

    Example: taperwise ingest fhir export/ -o out/prescriptions.parquet --assume-order-days 30
    """
    try:
        days = None if assume_order_days is None else check_assumed_days(assume_order_days)
    except TaperwiseError as exc:
        fail(str(exc))
        raise typer.Exit(2) from exc
    assumptions: list[dict[str, object]] = []
    if days is not None:
        assumptions.append({
            "option": ASSUME_OPTION,
            "days": days,
            "applies_to": "MedicationRequest rows whose record gives no supply duration (none stated, no "
            "usable quantity and units per day, no sig bounds) and whose sig gives a daily dose",
            "supply_days_source": "assumed",
        })  # fmt: skip
    provenance: dict[str, object] = {
        "reader": "fhir",
        "source": str(source),
        "options": {"assume_order_days": days},
        "assumptions": assumptions,
    }
    from taperwise.ingest.fhir import read_fhir

    _run(output, lambda sink, tick: read_fhir(source, sink, tick, assume_order_days=days), provenance, source)


@app.command()
def omop(
    source: Annotated[
        str, typer.Argument(help="A DuckDB file, a postgresql:// URL, or a folder of CDM CSVs")
    ],
    output: OutputOpt,
    schema: Annotated[
        str | None, typer.Option("--schema", help="Database schema holding the CDM tables")
    ] = None,
) -> None:
    """OMOP CDM 5.3/5.4: drug_exposure (+ concept, drug_strength), person, death, visits, conditions.

    Example: taperwise ingest omop cdm.duckdb -o out/prescriptions.parquet
    """
    # A database URL's password never goes into a file.
    shown = re.sub(r"(://[^/:@]*):[^/@]*@", r"\1:***@", source)
    from taperwise.ingest.omop import read_omop

    provenance: dict[str, object] = {"reader": "omop", "source": shown, "options": {"schema": schema}}
    _run(output, lambda sink, tick: read_omop(source, sink, tick, schema), provenance)


@app.command(name="csv")
def csv_command(
    source: Annotated[Path, typer.Argument(help="CSV or Parquet prescriptions")],
    output: OutputOpt,
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", help="CANONICAL=SOURCE column, repeatable: --map start_date=fill_date"),
    ] = None,
) -> None:
    """CSV/Parquet prescriptions in the canonical shape, or mapped to it with --map.

    Example: taperwise ingest csv claims.csv --map drug=product_name --map start_date=fill_date -o rx.parquet
    """
    mapping: dict[str, str] = {}
    for item in map_ or []:
        canonical, sep, column = item.partition("=")
        if not sep or not canonical.strip() or not column.strip():
            fail(f"--map {item!r}: write it as CANONICAL=SOURCE, e.g. start_date=fill_date")
            raise typer.Exit(2)
        mapping[canonical.strip()] = column.strip()
    from taperwise.ingest.tabular import read_tabular

    provenance: dict[str, object] = {"reader": "csv", "source": str(source), "options": {"map": mapping}}
    _run(output, lambda sink, tick: read_tabular(source, sink, mapping, tick), provenance, source)
