"""`taperwise program …`: the IOC program's instruments and content from the command line.

- `instruments` lists the instruments with their version, source and whose wording they use;
- `redcap-dictionary -o FILE.csv` writes them as a REDCap data dictionary;
- `score ANSWERS.csv -o SCORES.csv` scores a REDCap export (or any CSV whose columns are item
  variables) by the same code as the app, one row per record and score; an answer that is not one of
  the item's answers is reported naming the row and item, and the rest of the file is scored;
- `modules` lists the program modules and templates.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from taperwise.console import err_console, fail
from taperwise.errors import TaperwiseError, UnusableInputError

if TYPE_CHECKING:
    from taperwise.knowledge.instruments import Instrument

app = typer.Typer(
    help="The IOC program: instruments, their REDCap dictionary and scoring, modules and templates.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

MAX_ANSWER_FILE_BYTES = 200_000_000  # a REDCap export of a large study is megabytes
SCORE_COLUMNS = (
    "record_id",
    "instrument",
    "instrument_version",
    "score",
    "value",
    "status",
    "band",
    "reason",
    "alerts",
)
# Columns of a REDCap export that are not items: its own bookkeeping, and each form's status field.
_REDCAP_COLUMNS = (
    "redcap_event_name",
    "redcap_repeat_instrument",
    "redcap_repeat_instance",
    "redcap_data_access_group",
    "redcap_survey_identifier",
)


@app.command("instruments")
def instruments() -> None:
    """List the instruments: id, version, what each measures, its source and whose wording it uses.

    \b
    Example:
      taperwise program instruments
    """
    from taperwise.knowledge.instruments import load_instruments, load_program_sources

    sources = load_program_sources()
    for instrument in load_instruments():
        wording = "published wording" if instrument.wording == "published" else "our wording"
        scores = ", ".join(f"{score.id} {score.minimum}–{score.maximum}" for score in instrument.scores)
        typer.echo(f"{instrument.id} v{instrument.version}: {instrument.title} ({instrument.short})")
        typer.echo(f"  measures: {instrument.measures}; completed by the {instrument.completed_by}")
        typer.echo(f"  scores: {scores}; used at: {', '.join(instrument.used_at)}")
        typer.echo(f"  source: {sources[instrument.source_id]['citation']} ({wording})")


@app.command("redcap-dictionary")
def redcap_dictionary(
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the data dictionary (CSV)")],
    instrument: Annotated[
        list[str] | None, typer.Option("--instrument", help="Only these instruments (repeat the option)")
    ] = None,
) -> None:
    """Write the instruments as a REDCap data dictionary (upload it in REDCap's Data Dictionary page).

    \b
    Example:
      taperwise program redcap-dictionary -o taperwise_instruments.csv
      taperwise program redcap-dictionary --instrument peg --instrument phq9 -o pain_mood.csv
    """
    from taperwise.knowledge.instruments import instrument_by_id
    from taperwise.program.redcap import check_data_dictionary, data_dictionary_csv

    try:
        chosen = [instrument_by_id(name) for name in instrument] if instrument else None
    except TaperwiseError as exc:
        fail(f"--instrument: {exc}")
        raise typer.Exit(2) from exc
    text = data_dictionary_csv(chosen)
    problems = check_data_dictionary(text)
    if problems:  # the shipped instruments are tested; a programme's edited data may not be
        fail("the data dictionary would be refused by REDCap: " + "; ".join(problems[:5]))
        raise typer.Exit(2)
    _write_text(output, text)
    fields = text.count("\n") - 1
    err_console.print(f"wrote {output} ({fields} fields)", highlight=False)


@app.command("score")
def score(
    answers: Annotated[
        Path, typer.Argument(help="Answers: a CSV with record_id and item columns", show_default=False)
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the scores (CSV)")],
) -> None:
    """Score the instruments in a CSV of answers (a REDCap export works as it is).

    One output row per record and score: value, status (scored, unknown, not_applicable), band, why a
    score is unknown, and the alerts raised (PHQ-9 item 9). Blank answers are unanswered, never 0.

    \b
    Example:
      taperwise program score redcap_export.csv -o scores.csv
    """
    from taperwise.csvsafe import guard_text
    from taperwise.paths import check_not_input, make_folder_for

    try:
        check_not_input(answers, output)
        header, rows = _read_answers_csv(answers)
        instruments, ignored = _instruments_in(header)
    except TaperwiseError as exc:
        fail(str(exc))
        raise typer.Exit(2) from exc
    if ignored:
        err_console.print(
            f"ignored columns (not items of any instrument): {', '.join(ignored[:20])}",
            highlight=False,
            markup=False,
        )
    out_rows: list[list[str]] = []
    problems: list[str] = []
    for line, row in rows:
        record = row.get("record_id", "").strip()
        where = f"line {line}" + (f" (record {record[:40]})" if record else "")
        for instrument in instruments:
            out_rows.extend(_score_row(instrument, row, record, where, problems))
    make_folder_for(output)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(SCORE_COLUMNS)
    writer.writerows([guard_text(cell) for cell in out_row] for out_row in out_rows)
    _write_text(output, buffer.getvalue())
    for problem in problems[:50]:
        err_console.print(f"  {problem}", highlight=False, markup=False)
    if len(problems) > 50:
        err_console.print(f"  … and {len(problems) - 50} more", highlight=False)
    err_console.print(
        f"wrote {output}: {len(rows)} records, {len(instruments)} instruments "
        f"({', '.join(i.id for i in instruments)}), {len(problems)} problems",
        highlight=False,
    )


def _read_answers_csv(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    try:
        if not path.is_file():
            raise UnusableInputError(f"{path}: not a regular file")
        with path.open("rb") as handle:
            data = handle.read(MAX_ANSWER_FILE_BYTES + 1)
    except OSError as exc:
        raise UnusableInputError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if len(data) > MAX_ANSWER_FILE_BYTES:
        raise UnusableInputError(f"{path}: larger than {MAX_ANSWER_FILE_BYTES // 1_000_000} MB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UnusableInputError(
            f"{path}: not UTF-8 text (line {line}, byte {exc.start}: {exc.reason}); export it as UTF-8 CSV"
        ) from exc
    if "\x00" in text:
        raise UnusableInputError(f"{path}: holds NUL bytes, not a CSV file")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration as exc:
        raise UnusableInputError(
            f"{path}: is empty; expected a header with record_id and item columns"
        ) from exc
    except csv.Error as exc:
        raise UnusableInputError(f"{path}: cannot be read as CSV ({exc})") from exc
    if "record_id" not in header:
        raise UnusableInputError(f"{path}: has no record_id column (columns: {', '.join(header[:10])})")
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise UnusableInputError(f"{path}: column(s) {', '.join(duplicated[:5])} appear more than once")
    rows = []
    try:
        for values in reader:
            if not any(value.strip() for value in values):
                continue
            if len(values) != len(header):
                raise UnusableInputError(
                    f"{path}, line {reader.line_num}: {len(values)} values for {len(header)} columns"
                )
            rows.append((reader.line_num, dict(zip(header, values, strict=True))))
    except csv.Error as exc:
        raise UnusableInputError(f"{path}, line {reader.line_num}: cannot be read as CSV ({exc})") from exc
    return header, rows


def _instruments_in(header: list[str]) -> tuple[list[Instrument], list[str]]:
    """The instruments with at least one item column, and the columns that belong to none."""
    from taperwise.knowledge.instruments import load_instruments

    found = []
    claimed = {"record_id", *_REDCAP_COLUMNS}
    for instrument in load_instruments():
        items = {item.id for item in instrument.items}
        if items & set(header):
            found.append(instrument)
        claimed |= items | {score.id for score in instrument.scores} | {f"{instrument.id}_complete"}
    if not found:
        raise UnusableInputError(
            "no column is an item of any instrument (see `taperwise program instruments`)"
        )
    return found, [name for name in header if name not in claimed]


def _score_row(
    instrument: Instrument, row: dict[str, str], record: str, where: str, problems: list[str]
) -> list[list[str]]:
    from taperwise.program.scoring import AnswerError, read_answers, score_instrument

    raw = {item.id: row[item.id] for item in instrument.items if item.id in row}
    try:
        result = score_instrument(instrument, read_answers(instrument, raw))
    except AnswerError as exc:
        problems.append(f"{where}: {exc}; {instrument.short} not scored for this record")
        return [
            [record, instrument.id, instrument.version, rule.id, "", "error", "", str(exc), ""]
            for rule in instrument.scores
        ]
    problems.extend(f"{where}: {note}" for note in result.notes)
    alerts = "; ".join(
        f"{alert.title}"
        if alert.status == "raised"
        else f"not checked ({', '.join(alert.missing)} blank): {alert.title}"
        for alert in result.alerts
    )
    rows = []
    for value in result.scores:
        theirs = row.get(value.score_id, "").strip()
        if theirs and value.value is not None and _differs(theirs, value.value):
            problems.append(
                f"{where}: the file's {value.score_id} is {theirs[:20]}, taperwise scores {value.value}"
            )
        rows.append(
            [
                record,
                instrument.id,
                instrument.version,
                value.score_id,
                "" if value.value is None else str(value.value),
                value.status,
                value.band or "",
                value.reason or "",
                alerts,
            ]
        )
    return rows


def _differs(theirs: str, ours: object) -> bool:
    from decimal import Decimal, InvalidOperation

    try:
        return Decimal(theirs) != Decimal(str(ours))
    except InvalidOperation:
        return True


def _write_text(output: Path, text: str) -> None:
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"{output}: cannot be written ({exc.strerror or exc})")
        raise typer.Exit(2) from exc


@app.command("modules")
def modules() -> None:
    """List the program modules (with their sources) and the programme templates.

    \b
    Example:
      taperwise program modules
    """
    from taperwise.knowledge.program import load_modules, load_templates

    for module in load_modules():
        core = "core" if module.core else "by assessment"
        sources = ", ".join(module.source_ids)
        typer.echo(f"{module.id}: {module.title} ({module.minutes} min; {core}; sources {sources})")
    for template in load_templates():
        typer.echo(f"template {template.id}: {template.title} — {len(template.sessions)} sessions")


MarketOpt = Annotated[
    str | None, typer.Option("--market", help="US or UK wording (default: the plan's market)")
]
ClinicOpt = Annotated[str, typer.Option("--clinic", help="The clinic or practice the patient calls")]
PhoneOpt = Annotated[str, typer.Option("--phone", help="Its phone number")]
ClinicianOpt = Annotated[str, typer.Option("--clinician", help="The clinician who agreed the plan")]
PatientOpt = Annotated[str, typer.Option("--patient", help="How the patient is named on the document")]
PlanArg = Annotated[
    Path, typer.Argument(help="The agreed plan (JSON written by 'taper plan')", show_default=False)
]
DocumentOpt = Annotated[Path, typer.Option("-o", "--output", help="Where to write it: .pdf, or .html")]


def _document(kind: str, plan_path: Path, output: Path, market: str | None, contact: object) -> None:
    from taperwise.commands.taper import read_json_file, refusals_exit
    from taperwise.paths import check_not_input, make_folder_for
    from taperwise.reports.documents import calendar_html, letter_html, to_pdf, wording_for
    from taperwise.taper.readplan import read_plan
    from taperwise.taper.rules import load_rules

    with refusals_exit(plan_path):
        check_not_input(plan_path, output)
        if market is not None and market not in ("US", "UK"):
            raise UnusableInputError(f"--market: must be US or UK, not {market[:20]!r}")
        if output.suffix.lower() not in (".pdf", ".html"):
            raise UnusableInputError(f"{output}: the output must end in .pdf or .html")
        plan = read_plan(read_json_file(plan_path), load_rules())
    _, note = wording_for(plan, market)
    if note:
        err_console.print(f"note: {note}", highlight=False, markup=False)
    render = calendar_html if kind == "calendar" else letter_html
    html = render(plan, contact, market)  # type: ignore[arg-type]
    make_folder_for(output)
    try:
        if output.suffix.lower() == ".html":
            output.write_text(html, encoding="utf-8")
        else:
            output.write_bytes(to_pdf(html))
    except OSError as exc:
        fail(f"{output}: cannot be written ({exc.strerror or exc})")
        raise typer.Exit(2) from exc
    err_console.print(f"wrote {output} ({kind}: {len(plan.steps)} steps)", highlight=False)


@app.command("calendar")
def calendar(
    plan: PlanArg,
    output: DocumentOpt,
    market: MarketOpt = None,
    clinic: ClinicOpt = "your clinic",
    phone: PhoneOpt = "",
    clinician: ClinicianOpt = "",
    patient: PatientOpt = "",
) -> None:
    """The patient's calendar: each day's doses per time of day, what to expect, whom to call.

    \b
    Example:
      taperwise program calendar plan.json -o calendar.pdf --clinic "Riverside" --phone "01234 567890"
    """
    from taperwise.reports.documents import Contact

    _document("calendar", plan, output, market, Contact(clinic, phone, clinician, patient))


@app.command("letter")
def letter(
    plan: PlanArg,
    output: DocumentOpt,
    market: MarketOpt = None,
    clinic: ClinicOpt = "",
    phone: PhoneOpt = "",
    clinician: ClinicianOpt = "",
    patient: PatientOpt = "",
    to: Annotated[
        str, typer.Option("--to", help="The recipient: the GP or primary care clinician, the team")
    ] = "",
) -> None:
    """The letter to the GP / primary care clinician and team: regimen and MME, goal, pace, schedule,
    warnings, follow-up and naloxone.

    \b
    Example:
      taperwise program letter plan.json -o letter.pdf --clinician "Dr A. Avery" --clinic "Pain clinic"
    """
    from taperwise.reports.documents import Contact

    _document("letter", plan, output, market, Contact(clinic, phone, clinician, patient, to))
