"""`taperwise registry`: the prioritised worklist, its metadata, and the segments for trajectories."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from taperwise.canonical import EVENT_COLUMNS, EVENT_KINDS
from taperwise.commands.exposure import (
    CodesOpt,
    EarlyRefillsOpt,
    EngineOpt,
    FactorsOpt,
    InputArg,
    OutputOpt,
    load_codes,
    run_provenance,
)
from taperwise.commands.store import publish as publish_snapshot
from taperwise.console import err_console, fail, stages
from taperwise.digest import file_sha256
from taperwise.errors import TaperwiseError, UnusableInputError
from taperwise.exposure.options import (
    DEFAULT_EARLY_REFILLS,
    EARLY_REFILL_RULES,
    EarlyRefills,
    check_early_refills,
)
from taperwise.knowledge.factors import DEFAULT_FACTOR_SET, load_factor_set
from taperwise.knowledge.registry import (
    PriorityRule,
    RegistrySettings,
    load_priority_rules,
    load_registry_settings,
)
from taperwise.paths import check_not_input, sibling
from taperwise.plausible import METADATA_KEY, DateRange
from taperwise.registry_schema import HARM_COLUMNS, REGISTRY_COLUMNS, definitions

if TYPE_CHECKING:
    import pyarrow as pa

# The engine is imported inside the functions that run it (see taperwise.commands.exposure).


def unusable_events(events: pa.Table) -> Counter[str]:
    """Event rows the registry cannot place (no patient, a date that is not YYYY-MM-DD, an unknown kind).

    They are counted, printed and named in the metadata instead of quietly falling out of the window.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from taperwise.exposure.prescriptions import READ_PROBLEM_COLUMN

    problems: Counter[str] = Counter()
    if READ_PROBLEM_COLUMN in events.column_names:
        readable = pc.is_null(events.column(READ_PROBLEM_COLUMN))
        problems["fields not those of the header (values may be shifted)"] = len(events) - (
            pc.sum(readable).as_py() or 0
        )
        events = events.filter(readable)
    patient = pc.equal(pc.fill_null(pc.utf8_length(events.column("patient_id")), 0), 0)
    dated = pc.strptime(events.column("date"), format="%Y-%m-%d", unit="s", error_is_null=True)
    problems["no patient_id"] = pc.sum(patient).as_py() or 0
    problems["date not YYYY-MM-DD"] = dated.null_count
    kinds = pc.is_in(events.column("kind"), value_set=pa.array(EVENT_KINDS))
    problems["kind not one of " + ", ".join(EVENT_KINDS)] = (
        pc.sum(pc.invert(pc.fill_null(kinds, False))).as_py() or 0
    )
    return +problems


def ingest_provenance(source: Path) -> dict[str, Any] | None:
    """What the ingest recorded beside the input (OUT-stem.ingest.json): its file, options and assumptions.

    An assumption made on ingest (e.g. ``--assume-order-days``) changes the doses the registry counts, so
    the registry's metadata carries it on. None when the input has no such file (a CSV made elsewhere).
    """
    path = sibling(source, "ingest", ".json") if source.is_file() else None
    if path is None or not path.is_file():
        return None
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return {"path": str(path), "unreadable": str(exc)[:200]}
    if not isinstance(recorded, dict):
        return {"path": str(path), "unreadable": "not a JSON object"}
    return {
        "path": str(path),
        "sha256": file_sha256(path),
        "options": recorded.get("options"),
        "assumptions": recorded.get("assumptions") or [],
    }


def registry_metadata(
    *,
    source: Path,
    as_of: dt.date,
    settings: RegistrySettings,
    rules: tuple[PriorityRule, ...],
    factors: str,
    engine: str,
    patients: int,
    events: Path | None,
    events_not_used: Counter[str] | None = None,
    codes: Path | None = None,
    early_refills: EarlyRefills = DEFAULT_EARLY_REFILLS,
    dates: DateRange | None = None,
) -> dict[str, Any]:
    """Everything a reader needs to interpret the registry: definitions, thresholds, versions, inputs,
    and the plausible date range the rows were computed with (`dates`, by default today's)."""
    from taperwise.exposure.registry import Windows

    fs = load_factor_set(factors)
    dates = dates or DateRange.from_environment()
    windows = Windows.ending(as_of, settings)
    return {
        **run_provenance(source, engine),
        "ingest": ingest_provenance(source),
        "codes": None if codes is None else {"path": str(codes), "sha256": file_sha256(codes)},
        "events": None
        if events is None
        else {
            "path": str(events),
            "sha256": file_sha256(events),
            "rows_not_used": dict(events_not_used or {}),
        },
        "as_of": as_of.isoformat(),
        "windows": {
            name: [str(day) for day in span] for name, span in asdict(windows).items() if name != "as_of"
        },
        "patients": patients,
        "factor_set": {
            "id": fs.set_id,
            "version": fs.version,
            "dose_term": fs.dose_term,
            "description": fs.description,
        },
        "early_refills": {"rule": early_refills, "definition": EARLY_REFILL_RULES[early_refills]},
        METADATA_KEY: dates.as_metadata(),
        "settings_version": settings.version,
        "definitions": {
            "population": "patients with any opioid supply (buprenorphine for pain included) on a day of the "
            "lookback window, plus patients whose opioid records in it could not be used",
            **definitions(settings),
            "ltot_definition": settings.ltot_definition,
        },
        "thresholds": settings.raw,
        "priority_rules": [
            {
                "rank": r.rank,
                "rule_id": r.rule_id,
                "when": r.when,
                "reason": r.reason,
                "source_id": r.source_id,
            }
            for r in rules
        ],
    }


def registry_command(
    input: InputArg,
    as_of: Annotated[dt.datetime, typer.Option("--as-of", formats=["%Y-%m-%d"], help="The registry date D")],
    output: OutputOpt,
    factors: FactorsOpt = DEFAULT_FACTOR_SET,
    engine: EngineOpt = "duckdb",
    codes: CodesOpt = None,
    ltot: Annotated[
        str | None, typer.Option("--ltot", help="LTOT definition: 60-of-90 (default) or 90-of-180")
    ] = None,
    events: Annotated[Path | None, typer.Option("--events", help="Harm events file (CSV/Parquet)")] = None,
    settings_file: Annotated[
        Path | None,
        typer.Option("--settings", help="Own thresholds (JSON), or a shipped preset by name: uk, uk-120"),
    ] = None,
    rules_file: Annotated[Path | None, typer.Option("--rules", help="Own priority rules (CSV)")] = None,
    publish: Annotated[
        bool, typer.Option("--publish", help="Load the registry into the clinical app's store")
    ] = False,
    db: Annotated[
        str | None, typer.Option("--db", envvar="TAPERWISE_DB", help="Store URL for --publish")
    ] = None,
    org: Annotated[str | None, typer.Option("--org", help="Organisation code the patients belong to")] = None,
    early_refills: EarlyRefillsOpt = DEFAULT_EARLY_REFILLS,
) -> None:
    """The prioritised registry: one row per patient with opioid supply in the 180 days ending on D.

    Writes OUT, OUT-stem.metadata.json (definitions, thresholds, factor set, engine, version) and
    OUT-stem.segments.<ext> (constant-MME segments, for trajectories).

    With --publish --db URL --org ORG the registry, segments and prescriptions are loaded into the clinical
    app's store as a new snapshot (the previous one is superseded, never deleted).

    Example: taperwise registry prescriptions.parquet --as-of 2025-03-31 -o registry.csv --events events.csv
    """
    if publish and (db is None or org is None):
        fail("--publish needs --db URL and --org CODE")
        raise typer.Exit(2)
    import pyarrow.compute as pc

    from taperwise.exposure.engine import connect, register_arrow, write_result
    from taperwise.exposure.mme import prescription_mme
    from taperwise.exposure.prescriptions import (
        READ_PROBLEM_COLUMN,
        read_errors,
        read_prescriptions,
        read_table_file,
    )
    from taperwise.exposure.registry import run_registry

    # With --publish, the per-row MME the registry computed is kept here for the store (never recomputed).
    with tempfile.TemporaryDirectory(prefix="taperwise-registry-") as scratch:
        try:
            settings = load_registry_settings(settings_file)
            if ltot is not None:
                settings = settings.with_ltot(ltot)
            rules = load_priority_rules(rules_file)
            load_factor_set(factors)
            written = (output, sibling(output, "segments"), sibling(output, "metadata", ".json"))
            check_not_input(input, *written)
            if events is not None:
                check_not_input(events, *written)
            rule = check_early_refills(early_refills)
            dates = DateRange.from_environment()  # once per run: the rows, the sweep and the metadata
            mme_rows = Path(scratch) / "mme.parquet" if publish else None
            with connect(engine) as con, stages() as progress, read_errors(input):
                progress.start("reading prescriptions")
                rows = prescription_mme(read_prescriptions(input, con), factors, load_codes(codes), dates)
                event_table = None
                events_not_used: Counter[str] = Counter()
                if events is not None:
                    event_rows = read_table_file(events, EVENT_COLUMNS[:3], EVENT_COLUMNS[3:])
                    events_not_used = unusable_events(event_rows)
                    readable = pc.is_null(event_rows.column(READ_PROBLEM_COLUMN))
                    event_table = register_arrow(con, event_rows.filter(readable), prefix="events")
                progress.start("computing the registry")
                columns = REGISTRY_COLUMNS + (HARM_COLUMNS if events is not None else ())
                segments_path = sibling(output, "segments")
                with run_registry(
                    rows,
                    as_of.date(),
                    settings,
                    rules,
                    event_table,
                    keep_rows=mme_rows is not None,
                    early_refills=rule,
                    dates=dates,
                ) as run:
                    table = run.table.select(*columns)
                    count = write_result(con, table, output, lambda b: progress.advance(b.num_rows))
                    progress.start("writing segments")
                    write_result(con, run.segments, segments_path)
                    if mme_rows is not None and run.prescriptions is not None:
                        progress.start("keeping the per-prescription MME for the store")
                        write_result(con, run.prescriptions, mme_rows)
            metadata = registry_metadata(
                source=input, as_of=as_of.date(), settings=settings, rules=rules, factors=factors,
                engine=engine, patients=count, events=events, events_not_used=events_not_used,
                codes=codes, early_refills=rule, dates=dates,
            )  # fmt: skip
            metadata_path = sibling(output, "metadata", ".json")
            metadata_path.write_text(
                json.dumps(metadata, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            )
        except TaperwiseError as exc:
            fail(str(exc))
            raise typer.Exit(2) from exc
        except OSError as exc:
            fail(str(UnusableInputError(f"{output}: cannot be written ({exc.strerror})")))
            raise typer.Exit(2) from exc
        err_console.print(
            f"wrote {output} ({count:,} patients), {metadata_path.name}, {segments_path.name}",
            highlight=False,
        )
        for problem, n in sorted(events_not_used.items()):
            err_console.print(f"{events}: {n:,} event row(s) not used: {problem}", highlight=False)
        if publish and db is not None and org is not None:
            try:
                publish_snapshot(output, db, org, prescriptions=input, events=events, mme_rows=mme_rows)
            except TaperwiseError as exc:
                fail(str(exc))
                raise typer.Exit(2) from exc
