"""`taperwise serve`: migrate the clinical store and serve the web app with uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from taperwise.console import err_console, fail
from taperwise.errors import TaperwiseError, UnusableInputError
from taperwise.settings import Settings

DEFAULT_DB = "sqlite:///taperwise.db"
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port")] = 8000,
    db: Annotated[
        str,
        typer.Option(
            "--db", envvar="TAPERWISE_DB", help="Clinical store URL: sqlite:///app.db or postgresql://…"
        ),
    ] = DEFAULT_DB,
    warehouse: Annotated[
        Path | None, typer.Option("--warehouse", help="Analytics store (DuckDB file or Parquet folder)")
    ] = None,
    cds_no_auth: Annotated[
        bool,
        typer.Option(
            "--cds-no-auth",
            help="Developer mode only: accept CDS Hooks calls without the EHR's JWT (logged loudly)",
        ),
    ] = False,
) -> None:
    """Serve the clinical web app: the worklist and each patient's picture, with /healthz.

    Applies the store's migrations first. Needs TAPERWISE_SECRET_KEY (a long random value that signs
    session cookies), or TAPERWISE_DEV=1 on a developer's machine (http, a throw-away key).

    The CDS Hooks services (GET /cds-services) trust the EHRs listed in TAPERWISE_CDS_ISSUERS;
    --cds-no-auth (with TAPERWISE_DEV=1 only) accepts unauthenticated calls for local development.

    Example: TAPERWISE_DEV=1 taperwise serve --port 8000 --db sqlite:///demo/app.db
    """
    import uvicorn  # imported here so that the other commands start without the web stack

    from taperwise.web import create_app
    from taperwise.web.cds import NO_AUTH_WARNING

    try:
        if Settings.from_environment().dev_mode and host not in LOOPBACK:
            raise UnusableInputError(
                f"--host {host}: developer mode (TAPERWISE_DEV=1) sends cookies over plain http and listens "
                f"on loopback only ({', '.join(LOOPBACK)}); set TAPERWISE_SECRET_KEY and unset TAPERWISE_DEV "
                "to serve other machines"
            )
        if warehouse is not None and not warehouse.exists():
            raise UnusableInputError(f"{warehouse}: the warehouse does not exist; check the path")
        app = create_app(db, warehouse=warehouse, cds_no_auth=cds_no_auth)
        app.state.cds.warm()  # the CDS services' compiled MME, before the first EHR call waits for it
    except TaperwiseError as exc:
        fail(str(exc))
        raise typer.Exit(2) from exc
    if cds_no_auth:
        err_console.print(f"[bold red]WARNING: {NO_AUTH_WARNING}[/]", highlight=False)
    err_console.print(f"serving taperwise on http://{host}:{port} (database migrated)", highlight=False)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        server_header=False,
    )  # fmt: skip  (requests are logged by the app, without identifiers)
