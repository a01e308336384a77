"""`taperwise fhir`: FHIR R4 out — a taper plan as a CarePlan with MedicationRequest proposals."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from taperwise.console import err_console, fail
from taperwise.errors import UnusableInputError

if TYPE_CHECKING:
    from taperwise.exchange.fhir_plan import PlanDocument

app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None)
MAX_PDF_BYTES = 20_000_000


@app.command("export-plan")
def export_plan(
    plan_path: Annotated[
        Path, typer.Argument(help="The plan (JSON written by 'taper plan')", show_default=False)
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="The FHIR Bundle to write (.json)")],
    patient: Annotated[
        str,
        typer.Option(
            "--patient", help="The patient's FHIR reference in the receiving system, e.g. Patient/123"
        ),
    ],
    status: Annotated[
        str, typer.Option("--status", help="The CarePlan's status: draft, or active for an agreed plan")
    ] = "draft",
    pdf: Annotated[
        list[str] | None,
        typer.Option("--pdf", help="A PDF of the plan to attach, as TITLE=PATH (repeatable)"),
    ] = None,
) -> None:
    """Write a taper plan as a FHIR R4 Bundle: a CarePlan, one MedicationRequest proposal per product
    and step (dosage and supply), and the given PDFs as DocumentReferences; validated before it is written.

    \b
    Example:
      taperwise fhir export-plan plan.json -o plan.fhir.json --patient Patient/123 \\
        --pdf "Patient calendar=calendar.pdf"
    """
    from taperwise.commands.taper import read_json_file, refusals_exit
    from taperwise.exchange.fhir_plan import check_patient_reference, plan_bundle
    from taperwise.paths import check_not_input, make_folder_for
    from taperwise.taper.readplan import read_plan
    from taperwise.taper.rules import load_rules

    with refusals_exit(plan_path):
        check_not_input(plan_path, output)
        if output.suffix.lower() != ".json":
            raise UnusableInputError(f"{output}: the output must end in .json")
        check_patient_reference(patient)
        documents = [_pdf(item) for item in pdf or []]
        plan = read_plan(read_json_file(plan_path), load_rules())
        bundle = plan_bundle(
            plan, patient, status=status, documents=documents, created=dt.datetime.now(dt.UTC)
        )
    make_folder_for(output)
    try:
        output.write_text(json.dumps(bundle, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:
        fail(f"{output}: cannot be written ({exc.strerror or exc})")
        raise typer.Exit(2) from exc
    requests = sum(1 for e in bundle["entry"] if e["resource"]["resourceType"] == "MedicationRequest")
    err_console.print(
        f"wrote {output} (FHIR R4 Bundle: a CarePlan, {requests} MedicationRequest proposals, "
        f"{len(documents)} document(s); validated)",
        highlight=False,
    )


def _pdf(item: str) -> PlanDocument:

    title, sep, path_text = item.partition("=")
    if not sep or not title.strip() or not path_text.strip():
        raise UnusableInputError(f"--pdf {item[:60]!r}: give TITLE=PATH")
    path = Path(path_text.strip())
    if not path.is_file():
        raise UnusableInputError(f"--pdf {path}: not a file")
    content = path.read_bytes()[: MAX_PDF_BYTES + 1]
    if len(content) > MAX_PDF_BYTES:
        raise UnusableInputError(f"--pdf {path}: larger than {MAX_PDF_BYTES:,} bytes")
    if not content.startswith(b"%PDF-"):
        raise UnusableInputError(f"--pdf {path}: not a PDF file")
    from taperwise.exchange.fhir_plan import PlanDocument

    modified = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
    return PlanDocument(title.strip(), content, modified)
