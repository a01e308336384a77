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
) -> None:
    """Serve the clinical web app: the worklist and each patient's picture, with /healthz.

    Applies the store's migrations first. Needs TAPERWISE_SECRET_KEY (a long random value that signs
    session cookies), or TAPERWISE_DEV=1 on a developer's machine (http, a throw-away key).

    Example: TAPERWISE_DEV=1 taperwise serve --port 8000 --db sqlite:///demo/app.db
    """
    import uvicorn  # imported here so that the other commands start without the web stack

    from taperwise.web import create_app

    try:
        if Settings.from_environment().dev_mode and host not in LOOPBACK:
            raise UnusableInputError(
                f"--host {host}: developer mode (TAPERWISE_DEV=1) sends cookies over plain http and listens "
                f"on loopback only ({', '.join(LOOPBACK)}); set TAPERWISE_SECRET_KEY and unset TAPERWISE_DEV "
                "to serve other machines"
            )
        if warehouse is not None and not warehouse.exists():
            raise UnusableInputError(f"{warehouse}: the warehouse does not exist; check the path")
        app = create_app(db, warehouse=warehouse)
    except TaperwiseError as exc:
        fail(str(exc))
        raise typer.Exit(2) from exc
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
