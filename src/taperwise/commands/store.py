"""`taperwise users …` and publishing a registry into the clinical store (`registry … --publish`)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from taperwise.commands.exposure import load_codes
from taperwise.console import err_console, fail, out_console
from taperwise.digest import file_sha256
from taperwise.errors import RequestValidationError, TaperwiseError, UnusableInputError
from taperwise.knowledge.factors import DEFAULT_FACTOR_SET
from taperwise.paths import sibling
from taperwise.plausible import DateRange
from taperwise.roles import ROLES

if TYPE_CHECKING:
    from taperwise.store import Store

# The store (SQLAlchemy, Alembic) and the engine are imported inside the commands that use them, so that
# the other commands start without them.

PASSWORD_ENV = "TAPERWISE_PASSWORD"
DEFAULT_DB = "sqlite:///taperwise.db"

DbOpt = Annotated[
    str,
    typer.Option(
        "--db", envvar="TAPERWISE_DB", help="Clinical store URL: sqlite:///app.db or postgresql://…"
    ),
]

users_app = typer.Typer(
    no_args_is_help=True, help="Accounts of the clinical app: add, list, unlock, deactivate, sign-out."
)


def _open(db: str) -> Store:
    from taperwise.store import open_store

    return open_store(db)


def _password() -> str:
    given = os.environ.get(PASSWORD_ENV)
    if given is not None:
        return given
    password: str = typer.prompt(
        "Password (12 characters or more)", hide_input=True, confirmation_prompt=True
    )
    return password


@users_app.command("add")
def add_user(
    name: Annotated[str, typer.Argument(help="Username to sign in with")],
    role: Annotated[str, typer.Option("--role", help=f"One of: {', '.join(ROLES)}")],
    specialty: Annotated[str | None, typer.Option("--specialty", help="e.g. gp, pain, psychiatry")] = None,
    org: Annotated[
        list[str] | None, typer.Option("--org", help="Organisation code (repeat for several)")
    ] = None,
    display_name: Annotated[str | None, typer.Option("--display-name", help="Name shown in the app")] = None,
    db: DbOpt = DEFAULT_DB,
) -> None:
    """Add a user. The password comes from TAPERWISE_PASSWORD or a hidden prompt (asked twice).

    Example: taperwise users add dr.jones --role clinician --specialty gp --org PRACTICE-1
    """
    from taperwise.store.users import create_user

    try:
        password = _password()
        store = _open(db)
        with store.session() as s:
            user = create_user(s, name, password, role, specialty, org or (), display_name=display_name)
            summary = f"added {user.username} ({user.role}) to {', '.join(org or ()) or 'no organisation'}"
        store.close()
    except TaperwiseError as exc:
        fail(str(exc))
        raise typer.Exit(2) from exc
    err_console.print(summary, highlight=False)


@users_app.command("list")
def list_command(db: DbOpt = DEFAULT_DB) -> None:
    """Every user with role, organisations, and whether the account is locked."""
    from taperwise.store.users import is_locked, list_users

    try:
        store = _open(db)
        with store.session() as s:
            from rich.table import Table

            table = Table("username", "name", "role", "specialty", "organisations", "status")
            for user, codes in list_users(s):
                status = "inactive" if not user.active else "locked" if is_locked(user) else "active"
                table.add_row(
                    user.username,
                    user.display_name,
                    user.role,
                    user.specialty or "",
                    ", ".join(codes),
                    status,
                )
        store.close()
    except TaperwiseError as exc:
        fail(str(exc))
        raise typer.Exit(2) from exc
    out_console.print(table)


@users_app.command("unlock")
def unlock_command(name: Annotated[str, typer.Argument(help="Username")], db: DbOpt = DEFAULT_DB) -> None:
    """Lift a lock-out after repeated failed sign-ins (recorded in the audit log)."""
    from taperwise.store.users import unlock_user

    try:
        store = _open(db)
        with store.session() as s:
            unlock_user(s, name)
        store.close()
    except TaperwiseError as exc:
        fail(str(exc))
        raise typer.Exit(2) from exc
    err_console.print(f"unlocked {name}", highlight=False)


def _recorded_file(metadata: dict[str, Any], key: str) -> tuple[Path | None, str | None]:
    recorded = metadata.get(key)
    if not isinstance(recorded, dict) or not isinstance(recorded.get("path"), str):
        return None, None
    sha = recorded.get("sha256")
    return Path(recorded["path"]), sha if isinstance(sha, str) else None


def _existing(metadata: dict[str, Any], key: str) -> Path | None:
    """A path the registry metadata recorded, when the file is still there."""
    path, _ = _recorded_file(metadata, key)
    return path if path is not None and path.exists() else None


def _write_mme_rows(prescriptions: Path, metadata: dict[str, Any], output: Path) -> None:
    """Per-prescription MME rows as the registry computed them: the same factor set and code table, from
    the same prescriptions (their fingerprints checked); refused when that cannot be guaranteed."""
    from taperwise.exposure.engine import connect, write_result
    from taperwise.exposure.mme import EXTRA_COLUMNS, MME_COLUMNS, prescription_mme
    from taperwise.exposure.prescriptions import ROW, read_prescriptions

    _, sha = _recorded_file(metadata, "input")
    if sha is not None and prescriptions.is_file() and file_sha256(prescriptions) != sha:
        raise UnusableInputError(
            f"{prescriptions}: not the prescriptions this registry was computed from (SHA-256 differs); "
            "publish with `taperwise registry … --publish` so the store shows what the registry computed"
        )
    codes, codes_sha = _recorded_file(metadata, "codes")
    if codes is not None and (not codes.is_file() or file_sha256(codes) != codes_sha):
        raise UnusableInputError(
            f"{codes}: the code table this registry was computed with is missing or changed; "
            "publish with `taperwise registry … --publish`"
        )
    factors = (metadata.get("factor_set") or {}).get("id", DEFAULT_FACTOR_SET)
    with connect("duckdb") as con:  # DuckDB and Spark give the same rows (tests/exposure/test_engines.py)
        dates = DateRange.from_metadata(metadata)  # the range the registry was computed with
        rows = prescription_mme(read_prescriptions(prescriptions), factors, load_codes(codes), dates)
        write_result(con, rows.order_by(ROW).select(*MME_COLUMNS, *EXTRA_COLUMNS), output)


def publish(
    registry: Path,
    db: str,
    org: str,
    *,
    prescriptions: Path | None = None,
    events: Path | None = None,
    mme_rows: Path | None = None,
) -> None:
    """Load a registry written by `taperwise registry` (and its metadata and segments) into the store.

    The prescriptions and events default to the files the metadata names, when they still exist.
    `registry --publish` passes `mme_rows`, the per-prescription MME the registry itself computed; without
    them they are computed again from the prescriptions with the factor set and code table the metadata
    records, and refused when the prescriptions or the code table are not the ones it fingerprinted.
    Raises a TaperwiseError naming the problem; prints a summary and any refused rows.
    """
    from taperwise.store.publish import publish_registry

    metadata_path = sibling(registry, "metadata", ".json")
    try:
        metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        metadata = {}
    if not isinstance(metadata, dict):
        metadata = {}
    prescriptions = prescriptions or _existing(metadata, "input")
    events = events or _existing(metadata, "events")
    store = _open(db)
    try:
        with tempfile.TemporaryDirectory(prefix="taperwise-publish-") as scratch:
            if mme_rows is None and prescriptions is not None:
                mme_rows = Path(scratch) / "mme.parquet"
                _write_mme_rows(prescriptions, metadata, mme_rows)
            with store.session() as s:
                snapshot = publish_registry(
                    s, registry, metadata_path, sibling(registry, "segments"), mme_rows, events, org,
                    prescriptions_path=prescriptions,
                )  # fmt: skip
                problems = json.loads(snapshot.problems_json)
                summary = (
                    f"published snapshot {snapshot.id} for {org} ({snapshot.patients:,} patients, as of "
                    f"{snapshot.as_of}); {len(problems)} row(s) refused"
                )
    finally:
        store.close()
    err_console.print(summary, highlight=False)
    for problem in problems[:20]:
        err_console.print(
            f"  {problem['file']} row {problem['row']} ({problem['record']}): {problem['problem']}",
            highlight=False,
        )
    if mme_rows is None:
        err_console.print(
            "  no prescriptions file: the patient page will list no prescriptions", highlight=False
        )


audit_app = typer.Typer(no_args_is_help=True, help="The audit log: check that no row was changed or removed.")


@audit_app.command("verify")
def audit_verify(db: DbOpt = DEFAULT_DB) -> None:
    """Recompute the audit log's hash chain; exit 0 when intact, 1 naming the first row that breaks it.

    Prints the last seq and hash: keep them elsewhere (a ticket, a printout) to detect later removal of
    rows from the end, which a chain alone cannot show.
    """
    from taperwise.store.audit import verify_chain

    try:
        store = _open(db)
        with store.session() as s:
            report = verify_chain(s)
        store.close()
    except TaperwiseError as exc:
        fail(str(exc))
        raise typer.Exit(2) from exc
    if not report.intact:
        where = f"audit row id {report.broken_id}" if report.broken_id is not None else "the chain's head"
        seq = f" (seq {report.broken_seq})" if report.broken_seq is not None else ""
        fail(
            f"the audit log is broken at {where}{seq}: {report.problem}; "
            f"the {report.rows} row(s) before it are intact"
        )
        raise typer.Exit(1)
    out_console.print(f"audit log intact: {report.rows} row(s), last seq {report.last_seq}, "
                      f"hash {report.last_hash}", highlight=False)  # fmt: skip


@users_app.command("deactivate")
def deactivate_command(name: Annotated[str, typer.Argument(help="Username")], db: DbOpt = DEFAULT_DB) -> None:
    """Deactivate an account (kept, never deleted) and end its sessions at once (audited)."""
    from taperwise.store.users import deactivate_user

    _user_change(db, name, lambda s: deactivate_user(s, name), f"deactivated {name}; its sessions ended")


@users_app.command("sign-out")
def sign_out_command(name: Annotated[str, typer.Argument(help="Username")], db: DbOpt = DEFAULT_DB) -> None:
    """End every session of a user now ("sign out everywhere"; audited). The account stays active."""
    from taperwise.store.sessions import end_user_sessions
    from taperwise.store.users import get_user_by_name

    def end(s: Any) -> None:
        user = get_user_by_name(s, name)
        if user is None:
            raise RequestValidationError("username", f"no user called {name!r}")
        end_user_sessions(s, user, "signed_out_everywhere", None)

    _user_change(db, name, end, f"signed {name} out everywhere")


def _user_change(db: str, name: str, change: Any, done: str) -> None:
    try:
        store = _open(db)
        with store.session() as s:
            change(s)
        store.close()
    except TaperwiseError as exc:
        fail(str(exc))
        raise typer.Exit(2) from exc
    err_console.print(done, highlight=False)
