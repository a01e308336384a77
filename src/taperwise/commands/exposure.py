"""`taperwise mme`, `segments` and `window`: the exposure engine on a prescriptions file."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from taperwise import __version__
from taperwise.console import err_console, fail, stages
from taperwise.digest import file_sha256
from taperwise.errors import TaperwiseError, UnusableInputError
from taperwise.exposure.options import DEFAULT_EARLY_REFILLS, EARLY_REFILL_RULES, ENGINES, check_early_refills
from taperwise.knowledge.factors import DEFAULT_FACTOR_SET, available_factor_sets, load_factor_set
from taperwise.paths import check_not_input, sibling
from taperwise.plausible import METADATA_KEY, DateRange

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir

    from taperwise.knowledge.codes import CodeTable

# The engine (Ibis, DuckDB, Arrow; Spark when asked) is imported inside the commands that run it, so that
# `taperwise --help`, `--version` and the commands that never touch it start in a fraction of a second.

InputArg = Annotated[
    Path, typer.Argument(help="Canonical prescriptions, .csv or .parquet", show_default=False)
]
OutputOpt = Annotated[Path, typer.Option("-o", "--output", help="Output file, .csv or .parquet")]
FactorsOpt = Annotated[
    str,
    typer.Option("--factors", help=f"Conversion-factor set: {', '.join(available_factor_sets())}"),
]
CodesOpt = Annotated[
    Path | None,
    typer.Option(
        "--codes",
        help="Verified code table: the CDC NDC/MME file (.xlsx) or a folder with OMOP drug_strength.csv "
        "and concept.csv; rows whose ndc/rxcui is in it are checked against their text",
    ),
]
EngineOpt = Annotated[
    str, typer.Option("--engine", help=f"Where the exposure engine runs: {', '.join(ENGINES)}")
]
EarlyRefillsOpt = Annotated[
    str,
    typer.Option(
        "--early-refills",
        help="Fills of one product that overlap: 'add' them (the published definitions, default) or "
        "'carry-forward' (a fill starting before the previous one ends counts from the day after it)",
    ),
]


def _check_factor_set(factors: str) -> None:
    load_factor_set(factors)  # raises KnowledgeError naming the known sets


def load_codes(path: Path | None) -> CodeTable | None:
    """The code table named by --codes, or None; unreadable rows are listed, not dropped."""
    if path is None:
        return None
    from taperwise.knowledge.codes import load_cdc_ndc_file, load_omop_drug_strength

    if path.is_dir():
        table = load_omop_drug_strength(path / "drug_strength.csv", path / "concept.csv")
    elif path.suffix.lower() in (".xlsx", ".xlsm"):
        table = load_cdc_ndc_file(path)
    else:
        raise UnusableInputError(f"{path}: --codes takes a CDC NDC/MME .xlsx file or an OMOP folder")
    for issue in table.issues[:20]:
        err_console.print(f"codes: {issue}", highlight=False)
    if len(table.issues) > 20:
        err_console.print(f"codes: … and {len(table.issues) - 20} more rows not read", highlight=False)
    return table


def run_provenance(source: Path, engine: str) -> dict[str, Any]:
    """When, by which version and engine, from which input (path and SHA-256): the head of every
    output's metadata. A folder or a URI read by Spark has no single file to fingerprint: its location is
    recorded."""
    from taperwise.exposure.prescriptions import spark_location

    return {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "taperwise_version": __version__,
        "engine": engine,
        "input": {
            "path": spark_location(source),
            "sha256": file_sha256(source) if source.is_file() else None,
        },
    }


def output_metadata(
    command: str,
    source: Path,
    factors: str,
    engine: str,
    dates: DateRange,
    codes: Path | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """What `mme`, `segments` and `window` write beside their output (OUT-stem.metadata.json): the input,
    the factor set, the engine and the plausible date range in force, so the run can be repeated."""
    fs = load_factor_set(factors)
    return {
        "command": command,
        **run_provenance(source, engine),
        "codes": None if codes is None else {"path": str(codes), "sha256": file_sha256(codes)},
        "factor_set": {"id": fs.set_id, "version": fs.version},
        **extra,
        METADATA_KEY: dates.as_metadata(),
    }


def write_metadata(output: Path, metadata: dict[str, Any]) -> Path:
    """`metadata` as OUT-stem.metadata.json beside `output`; returns its path."""
    path = sibling(output, "metadata", ".json")
    try:
        path.write_text(json.dumps(metadata, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:
        raise UnusableInputError(f"{path}: cannot be written ({exc.strerror})") from exc
    return path


@contextmanager
def computed_once(rows: ir.Table) -> Iterator[ir.Table]:
    """The per-row MME columns a sweep reads, materialised on the engine (a temporary table on DuckDB, a
    persisted frame on Spark) for as long as the block runs: the output and the count of rows not counted
    read the same rows, computed once."""
    from taperwise.exposure.segments import SWEEP_INPUT_COLUMNS

    cached = rows.select(*SWEEP_INPUT_COLUMNS).cache()
    try:
        yield cached
    finally:
        cached.release()


def uncounted_rows(con: ibis.BaseBackend, rows: ir.Table) -> Counter[str]:
    """Rows that did not count towards MME, by status: said aloud, so none is left out unnoticed."""
    not_ok = rows.filter(rows.status != "ok")
    table = con.to_pyarrow(not_ok.group_by("status").aggregate(n=not_ok.count()))
    return Counter({row["status"]: int(row["n"]) for row in table.to_pylist()})


def _say_uncounted(uncounted: Counter[str]) -> None:
    if uncounted:
        parts = ", ".join(f"{count:,} {status}" for status, count in sorted(uncounted.items()))
        err_console.print(
            f"not counted: {parts} (run taperwise mme on the same file for each row's reason)",
            highlight=False,
        )


def _summary(path: Path, statuses: Counter[str]) -> None:
    parts = ", ".join(f"{count:,} {status}" for status, count in sorted(statuses.items()))
    err_console.print(f"wrote {path} ({sum(statuses.values()):,} rows: {parts})", highlight=False)


def mme(
    input: InputArg,
    output: OutputOpt,
    factors: FactorsOpt = DEFAULT_FACTOR_SET,
    engine: EngineOpt = "duckdb",
    codes: CodesOpt = None,
) -> None:
    """Daily MME for every prescription row, in input order, with status and reason.

    Example: taperwise mme prescriptions.csv -o mme.csv --factors cdc-2022
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from taperwise.exposure.engine import connect, output_format, parquet_counts, write_result
    from taperwise.exposure.mme import EXTRA_COLUMNS, MME_COLUMNS, prescription_mme
    from taperwise.exposure.prescriptions import ROW, read_errors, read_prescriptions

    try:
        _check_factor_set(factors)
        check_not_input(input, output)
        dates = DateRange.from_environment()  # once per run: every stage and the metadata use it
        with connect(engine) as con, stages() as progress, read_errors(input):
            progress.start("reading prescriptions")
            prescriptions = read_prescriptions(input, con)
            progress.start("resolving products and computing MME")
            rows = prescription_mme(prescriptions, factors, load_codes(codes), dates)
            expr = rows.order_by(ROW).select(*MME_COLUMNS, *EXTRA_COLUMNS)
            progress.start("writing rows")
            statuses: Counter[str] = Counter()

            def tally(batch: pa.RecordBatch) -> None:
                for count in pc.value_counts(batch.column("status")).to_pylist():  # counted in Arrow
                    statuses[count["values"]] += count["counts"]
                progress.advance(batch.num_rows)

            write_result(con, expr, output, on_batch=tally)
            if output_format(output) == "parquet" and not statuses:  # written by the engine itself
                statuses.update(parquet_counts(output, "status"))
        write_metadata(output, output_metadata("mme", input, factors, engine, dates, codes))
    except TaperwiseError as exc:
        fail(str(exc))
        raise typer.Exit(2) from exc
    _summary(output, statuses)


def segments(
    input: InputArg,
    output: OutputOpt,
    factors: FactorsOpt = DEFAULT_FACTOR_SET,
    engine: EngineOpt = "duckdb",
    codes: CodesOpt = None,
    early_refills: EarlyRefillsOpt = DEFAULT_EARLY_REFILLS,
) -> None:
    """Per patient, the maximal date ranges of constant total daily MME above zero.

    Columns: patient_id, start_date, end_date (inclusive), daily_mme, n_opioids (distinct drugs),
    overlapping_fills (fills of one product in supply at once beyond the first: early refills).

    Example: taperwise segments prescriptions.csv -o segments.parquet --early-refills carry-forward
    """
    from taperwise.exposure.engine import connect, write_result
    from taperwise.exposure.mme import prescription_mme
    from taperwise.exposure.prescriptions import read_errors, read_prescriptions
    from taperwise.exposure.refills import apply_early_refills
    from taperwise.exposure.segments import SEGMENT_COLUMNS, constant_segments

    try:
        _check_factor_set(factors)
        check_not_input(input, output)
        rule = check_early_refills(early_refills)
        dates = DateRange.from_environment()
        with connect(engine) as con, stages() as progress, read_errors(input):
            progress.start("reading prescriptions")
            computed = prescription_mme(read_prescriptions(input, con), factors, load_codes(codes), dates)
            progress.start("sweeping intervals and writing")
            with computed_once(computed) as rows:
                count = write_result(
                    con,
                    constant_segments(apply_early_refills(rows, rule, dates)).select(*SEGMENT_COLUMNS),
                    output,
                    lambda b: progress.advance(b.num_rows),
                )
                uncounted = uncounted_rows(con, rows)
        refills = {"rule": rule, "definition": EARLY_REFILL_RULES[rule]}
        write_metadata(
            output, output_metadata("segments", input, factors, engine, dates, codes, early_refills=refills)
        )
    except TaperwiseError as exc:
        fail(str(exc))
        raise typer.Exit(2) from exc
    err_console.print(f"wrote {output} ({count:,} segments)", highlight=False)
    _say_uncounted(uncounted)


def window(
    input: InputArg,
    start: Annotated[
        dt.datetime, typer.Option("--start", formats=["%Y-%m-%d"], help="First day (YYYY-MM-DD)")
    ],
    end: Annotated[dt.datetime, typer.Option("--end", formats=["%Y-%m-%d"], help="Last day, inclusive")],
    output: OutputOpt,
    factors: FactorsOpt = DEFAULT_FACTOR_SET,
    engine: EngineOpt = "duckdb",
    codes: CodesOpt = None,
    early_refills: EarlyRefillsOpt = DEFAULT_EARLY_REFILLS,
) -> None:
    """Per patient over an inclusive window: total MME, days supply and covered, and mme1-mme4.

    mme1 = total / days supply, mme2 = total / days covered, mme3 = total / window days,
    mme4 = largest single-day total. Prescriptions are clipped to the window.

    Example: taperwise window prescriptions.csv --start 2024-01-01 --end 2024-03-31 -o window.csv
    """
    if end < start:
        fail(f"--end {end:%Y-%m-%d} is before --start {start:%Y-%m-%d}")
        raise typer.Exit(2)
    from taperwise.exposure.engine import connect, write_result
    from taperwise.exposure.mme import prescription_mme
    from taperwise.exposure.prescriptions import read_errors, read_prescriptions
    from taperwise.exposure.refills import apply_early_refills
    from taperwise.exposure.segments import constant_segments
    from taperwise.exposure.windows import WINDOW_COLUMNS, window_metrics

    try:
        _check_factor_set(factors)
        check_not_input(input, output)
        rule = check_early_refills(early_refills)
        dates = DateRange.from_environment()
        with connect(engine) as con, stages() as progress, read_errors(input):
            progress.start("reading prescriptions")
            computed = prescription_mme(read_prescriptions(input, con), factors, load_codes(codes), dates)
            progress.start("computing window metrics and writing")
            with computed_once(computed) as rows:
                counted = apply_early_refills(rows, rule, dates)
                metrics = window_metrics(counted, constant_segments(counted), start.date(), end.date())
                count = write_result(
                    con, metrics.select(*WINDOW_COLUMNS), output, lambda b: progress.advance(b.num_rows)
                )
                uncounted = uncounted_rows(con, rows)
        refills = {"rule": rule, "definition": EARLY_REFILL_RULES[rule]}
        span = {"start": start.date().isoformat(), "end": end.date().isoformat()}
        write_metadata(
            output,
            output_metadata(
                "window", input, factors, engine, dates, codes, window=span, early_refills=refills
            ),
        )
    except TaperwiseError as exc:
        fail(str(exc))
        raise typer.Exit(2) from exc
    err_console.print(f"wrote {output} ({count:,} patients)", highlight=False)
    _say_uncounted(uncounted)
