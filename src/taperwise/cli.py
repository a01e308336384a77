"""The `taperwise` command line: verbs live in `taperwise.commands`, mounted here."""

from __future__ import annotations

import typer

from taperwise import __version__
from taperwise.commands import exposure, fhir, ingest, program, registry, serve, store, synth, taper

app = typer.Typer(
    name="taperwise",
    help="Find, plan and follow safe opioid tapers: MME trajectories, registries and taper plans.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help and usage errors: Rich's help panels cost more to import than the rest of `--help`.
    rich_markup_mode=None,
)
app.command()(exposure.mme)
app.command()(exposure.segments)
app.command()(exposure.window)
app.command(name="registry")(registry.registry_command)
app.command()(synth.synth)
app.add_typer(store.users_app, name="users")
app.add_typer(store.audit_app, name="audit")
app.command()(serve.serve)
app.add_typer(ingest.app, name="ingest", help="EHR exports to canonical prescriptions: FHIR, OMOP, CSV.")
app.add_typer(taper.app, name="taper", help="Taper plans: plan from a request, adapt after a follow-up.")
app.add_typer(program.app, name="program", help="The IOC program: instruments, REDCap dictionary, modules.")
app.add_typer(fhir.app, name="fhir", help="FHIR R4 out: a taper plan as a CarePlan with MedicationRequests.")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"taperwise {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
) -> None:
    """taperwise: safely reducing and stopping long-term opioids."""
