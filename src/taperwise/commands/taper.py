"""`taperwise taper plan` and `taperwise taper adapt`: the taper engine on JSON files.

The only place the taper engine meets files: JSON in, JSON out, a one-line error (exit code 2) naming the
field or file to fix. The engine itself (`taperwise.taper`) stays pure.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from taperwise.console import err_console, fail
from taperwise.errors import RequestValidationError, TaperwiseError, UnusableInputError
from taperwise.knowledge.factors import available_factor_sets

if TYPE_CHECKING:
    from taperwise.taper import TaperPlan

app = typer.Typer(
    help="Taper plans: build an individualised, guideline-bounded schedule and adapt it after a follow-up.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

OutputOpt = Annotated[Path, typer.Option("-o", "--output", help="Where to write the plan (JSON)")]


MAX_INTEGER_DIGITS = 30  # far beyond any dose or day count; longer ones are read as floats (_whole_number)
MAX_FILE_BYTES = 5_000_000  # a request, follow-up or plan is kilobytes; a plan with a long history, more


@contextmanager
def refusals_exit(source: Path) -> Iterator[None]:
    """A refused input ends the command with one line and exit code 2, never a traceback: a field's
    problem is named after the file `source`, anything else as the error says it."""
    try:
        yield
    except RequestValidationError as exc:
        fail(f"{source}: {exc}")
        raise typer.Exit(2) from exc
    except TaperwiseError as exc:
        fail(str(exc))
        raise typer.Exit(2) from exc


def read_json_file(path: Path) -> dict[str, Any]:
    """One JSON object from a UTF-8 file; anything else is a one-line error naming the file."""
    try:
        if not path.is_file():  # a folder, a device, a pipe: /dev/zero never ends, a FIFO may never open
            raise UnusableInputError(f"{path}: not a regular file")
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise UnusableInputError(
                f"{path}: larger than {MAX_FILE_BYTES // 1_000_000} MB, not a taper file"
            )
        loaded = json.loads(data.decode("utf-8-sig"), parse_int=_whole_number)
    except OSError as exc:
        raise UnusableInputError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise UnusableInputError(
            f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8 JSON"
        ) from exc
    except json.JSONDecodeError as exc:
        raise UnusableInputError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from exc
    except RecursionError as exc:
        raise UnusableInputError(f"{path}: nested too deeply to be a taper file") from exc
    except ValueError as exc:  # a number no reader takes (guarded against by _whole_number)
        raise UnusableInputError(f"{path}: not a taper file (a number JSON readers refuse)") from exc
    if not isinstance(loaded, dict):
        raise UnusableInputError(f"{path}: must hold one JSON object")
    return loaded


def _whole_number(text: str) -> int | float:
    """A JSON integer as read: an absurdly long one becomes a float (infinite beyond about 308 digits),
    so the request's validation refuses it naming its field instead of the parser refusing the file."""
    return int(text) if len(text) <= MAX_INTEGER_DIGITS else float(text)


def _write(plan: TaperPlan, output: Path) -> None:
    try:
        output.write_text(plan.to_json() + "\n", encoding="utf-8")
    except OSError as exc:
        fail(f"{output}: cannot be written ({exc.strerror or exc})")
        raise typer.Exit(2) from exc
    severities = [w.severity for w in plan.warnings]
    counts = ", ".join(f"{severities.count(s)} {s}" for s in ("requires_review", "caution", "info"))
    err_console.print(f"wrote {output} ({len(plan.steps)} steps; warnings: {counts})", highlight=False)
    for warning in plan.warnings:
        if warning.severity != "info":
            err_console.print(
                f"  [{warning.severity}] {warning.code}: {warning.message}", highlight=False, markup=False
            )


def _with_errors(path: Path, error: TaperwiseError) -> None:
    where = f"{path}: " if isinstance(error, RequestValidationError) else ""
    fail(f"{where}{error}")
    raise typer.Exit(2) from error


@app.command("plan")
def plan(
    request: Annotated[Path, typer.Argument(help="Taper request (JSON)", show_default=False)],
    output: OutputOpt,
    factors: Annotated[
        str | None,
        typer.Option(
            "--factors", help=f"Override the request's factor set: {', '.join(available_factor_sets())}"
        ),
    ] = None,
) -> None:
    """Build a taper plan from a request: steps in real tablets/patches, dispensing, warnings, follow-ups.

    \b
    Example:
      taperwise taper plan request.json -o plan.json
    with request.json:
      {"start_date": "2025-01-06", "opioid_use_days": 1500,
       "regimen": [{"drug": "12 HR Morphine Sulfate 30 MG Extended Release Oral Tablet",
                    "dose": 90, "times_per_day": 3, "strengths": [15, 30, 60]}],
       "goal": {"type": "discontinue"},
       "pace": {"reduction": 45, "unit": "absolute", "every_days": 28}}
    Options in the request: "market": "US" or "UK" (strengths and pack sizes; default both),
    "concurrent_changes": true (several drugs step down together; default one at a time).
    Oral liquids are dosed in mg and shown in mL; an as-needed drug needs "as_needed": true and
    its "scheduled_equivalent".
    Schema: docs/schemas/taper-request.schema.json; the plan: docs/schemas/taper-plan.schema.json.
    """
    from taperwise.taper import plan_taper  # the engine loads with the command that runs it

    try:
        raw = read_json_file(request)
        if factors is not None:
            if factors not in available_factor_sets():
                raise UnusableInputError(
                    f"--factors: must be one of {', '.join(available_factor_sets())}, not {factors[:40]!r}"
                )
            raw = {**raw, "factor_set": factors}
        result = plan_taper(raw)
    except TaperwiseError as exc:
        _with_errors(request, exc)
        return
    _write(result, output)


@app.command("adapt")
def adapt(
    plan: Annotated[
        Path, typer.Argument(help="The plan in force (JSON written by 'taper plan')", show_default=False)
    ],
    follow_up: Annotated[Path, typer.Argument(help="The follow-up (JSON)", show_default=False)],
    output: OutputOpt,
) -> None:
    """Adapt a plan after a follow-up: continue, pause, slow or refer (decision table), re-plan the rest.

    \b
    Example:
      taperwise taper adapt plan.json follow-up.json -o new-plan.json
    with follow-up.json:
      {"date": "2025-02-03", "doses_taken": [{"regimen_index": 0, "doses": [75, 75, 75]}],
       "cows": 14, "peg": 6, "phq9_item9": 0, "oud_signs": false, "preference": "continue"}
    Schema: docs/schemas/taper-follow-up.schema.json. The decision, its rule and reason are kept in the
    plan's history.
    """
    from taperwise.taper import adapt_plan

    try:
        current = read_json_file(plan)
        visit = read_json_file(follow_up)
        result = adapt_plan(current, visit)
    except RequestValidationError as exc:
        # a field of the plan file ("plan…") or of the follow-up: name the file it is in
        fail(f"{plan if exc.field.startswith('plan') else follow_up}: {exc}")
        raise typer.Exit(2) from exc
    except TaperwiseError as exc:
        fail(str(exc))
        raise typer.Exit(2) from exc
    _write(result, output)
