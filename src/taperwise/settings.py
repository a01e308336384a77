"""The settings taperwise reads from the environment, in one place.

Every variable the program reads is named here with its meaning; `Settings.from_environment()` reads them
once (the web app at start-up, the commands that need them). Secrets come only from the environment,
never from files in the repository or command-line arguments (which other users can see in `ps`).

| variable | meaning |
|---|---|
| TAPERWISE_DB | clinical store URL for `serve`, `users`, `audit`, `registry --publish` |
| TAPERWISE_SECRET_KEY | signs the web app's cookies; long and random (checked at start) |
| TAPERWISE_DEV | `1`: developer mode — a throw-away key, plain http, loopback only |
| TAPERWISE_PUBLIC_URL | the app's address as EHRs reach it (`https://…`): a CDS Hooks JWT's audience, links |
| TAPERWISE_CDS_ISSUERS | the JSON file of the EHRs the CDS Hooks services trust (docs/cds-hooks.md) |
| TAPERWISE_CDS_DEV_ORG | `--cds-no-auth` only: the organisation whose store unauthenticated calls read |
| TAPERWISE_LOG_FORMAT | `text` (default) or `json` (one JSON object per line) for the server's log |
| TAPERWISE_LOG_LEVEL | `info` (default), `debug`, `warning`, `error` |
| TAPERWISE_PASSWORD | the password for `taperwise users add` (else a hidden prompt) |
| TAPERWISE_SPARK_MASTER | the Spark engine's master (default `local[*]`; e.g. `spark://host:7077`, `yarn`) |
| TAPERWISE_SPARK_CONF | extra Spark settings, `key=value;key=value` |
| TAPERWISE_DUCKDB_MEMORY | DuckDB's memory limit, e.g. `8GB` (it spills to disk beyond it) |
| TAPERWISE_DUCKDB_THREADS | DuckDB's worker threads (default: one per core) |
| TAPERWISE_EARLIEST_DATE, TAPERWISE_LATEST_DATE | the plausible prescription dates (plausible.py) |

`Settings` holds the server's; `EngineSettings` the exposure engines' (read by exposure/engine.py when a
connection opens), so that a command computing MME is not refused for a web setting it does not use.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from taperwise.errors import TaperwiseError

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")


class SettingsError(TaperwiseError):
    """An environment variable holds a value taperwise cannot use."""


@dataclass(frozen=True)
class Settings:
    secret_key: str | None = None
    dev_mode: bool = False
    log_format: str = "text"
    log_level: str = "info"
    public_url: str | None = None
    cds_issuers: str | None = None
    cds_dev_org: str | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        log_format = env.get("TAPERWISE_LOG_FORMAT", "text").strip().lower() or "text"
        if log_format not in LOG_FORMATS:
            raise SettingsError(f"TAPERWISE_LOG_FORMAT={log_format!r}: use one of {', '.join(LOG_FORMATS)}")
        log_level = env.get("TAPERWISE_LOG_LEVEL", "info").strip().lower() or "info"
        if log_level not in LOG_LEVELS:
            raise SettingsError(f"TAPERWISE_LOG_LEVEL={log_level!r}: use one of {', '.join(LOG_LEVELS)}")
        dev = env.get("TAPERWISE_DEV", "")
        if dev not in ("", "0", "1"):
            raise SettingsError(f"TAPERWISE_DEV={dev!r}: use 1 (developer mode) or leave it unset")
        public_url = env.get("TAPERWISE_PUBLIC_URL", "").strip().rstrip("/") or None
        if public_url is not None and not public_url.startswith(("https://", "http://")):
            raise SettingsError(f"TAPERWISE_PUBLIC_URL={public_url!r}: give the full address, https://…")
        return cls(
            secret_key=env.get("TAPERWISE_SECRET_KEY") or None,
            dev_mode=dev == "1",
            log_format=log_format,
            log_level=log_level,
            public_url=public_url,
            cds_issuers=env.get("TAPERWISE_CDS_ISSUERS", "").strip() or None,
            cds_dev_org=env.get("TAPERWISE_CDS_DEV_ORG", "").strip() or None,
        )


@dataclass(frozen=True)
class EngineSettings:
    spark_master: str = "local[*]"
    spark_conf: tuple[tuple[str, str], ...] = ()
    duckdb_memory: str | None = None
    duckdb_threads: int | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> EngineSettings:
        env = os.environ if environ is None else environ
        pairs: list[tuple[str, str]] = []
        for item in env.get("TAPERWISE_SPARK_CONF", "").split(";"):
            if not item.strip():
                continue
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise SettingsError(f"TAPERWISE_SPARK_CONF: {item.strip()!r} is not key=value")
            pairs.append((key.strip(), value.strip()))
        threads_text = env.get("TAPERWISE_DUCKDB_THREADS", "").strip()
        if threads_text and (not threads_text.isdigit() or not 1 <= int(threads_text) <= 1024):
            raise SettingsError(f"TAPERWISE_DUCKDB_THREADS={threads_text!r}: a whole number from 1 to 1024")
        return cls(
            spark_master=env.get("TAPERWISE_SPARK_MASTER", "").strip() or "local[*]",
            spark_conf=tuple(pairs),
            duckdb_memory=env.get("TAPERWISE_DUCKDB_MEMORY", "").strip() or None,
            duckdb_threads=int(threads_text) if threads_text else None,
        )
