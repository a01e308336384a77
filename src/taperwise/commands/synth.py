"""`taperwise synth`: a synthetic EHR export for the demo, the tests and the benchmarks."""

from __future__ import annotations

import datetime as dt
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from taperwise.console import err_console, fail, stages
from taperwise.errors import TaperwiseError

if TYPE_CHECKING:
    from taperwise.synth.generator import Batch


class SynthFormat(StrEnum):
    csv = "csv"
    fhir = "fhir"
    omop = "omop"


def _date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=option) from exc


def synth(
    output: Annotated[
        Path,
        typer.Option(
            "-o", "--output", help="csv: a .csv or .parquet file (or a folder); fhir/omop: a folder"
        ),
    ],
    patients: Annotated[int, typer.Option("--patients", "-n", min=1, help="How many patients")] = 2000,
    format: Annotated[
        SynthFormat, typer.Option("--format", "-f", help="csv, fhir or omop")
    ] = SynthFormat.csv,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same bytes")] = 0,
    start: Annotated[str | None, typer.Option("--start", help="First day of the window (YYYY-MM-DD)")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Last day of the window (YYYY-MM-DD)")] = None,
    malformed: Annotated[
        bool, typer.Option("--malformed/--clean", help="Include the deliberately malformed records")
    ] = True,
) -> None:
    """Generate a synthetic EHR export: realistic opioid courses, benzodiazepines, harm events.

    csv writes canonical prescriptions (OUT), OUT-stem.patients and OUT-stem.events beside it (Parquet
    when OUT ends in .parquet); fhir writes a FHIR R4 bulk-data folder of NDJSON files; omop a folder
    of OMOP CDM 5.4 CSV tables. A manifest (*.synth.json / synth.json) gives the counts. Nothing in it
    is a real person; the same seed gives byte-identical output.

    Example: taperwise synth --patients 2000 --format fhir -o out/fhir --seed 7

    Example: taperwise synth -n 100000 -o out/rx.parquet --clean
    """
    from taperwise.synth.generator import SynthOptions  # NumPy and Arrow: only when generating
    from taperwise.synth.run import synthesize

    options = SynthOptions(
        patients=patients,
        seed=seed,
        start=_date(start, "--start"),
        end=_date(end, "--end"),
        malformed=malformed,
    )
    began = time.perf_counter()
    try:
        with stages() as progress:
            progress.start(f"generating {patients:,} patients ({format.value})", total=patients)

            def tick(batch: Batch) -> None:
                progress.advance(len(batch.people))

            summary = synthesize(options, format.value, output, on_batch=tick)
    except TaperwiseError as exc:
        fail(str(exc))
        raise typer.Exit(2) from exc
    seconds = time.perf_counter() - began
    bad = ", ".join(f"{count} {kind}" for kind, count in sorted(summary.malformed.items())) or "none"
    err_console.print(
        f"wrote {output}: {summary.patients:,} patients, {summary.prescriptions:,} prescriptions, "
        f"{summary.events:,} events in {seconds:.1f} s ({summary.prescriptions / max(seconds, 1e-9):,.0f} "
        f"prescriptions/s); malformed on purpose: {bad}; manifest {summary.manifest}",
        highlight=False,
    )
