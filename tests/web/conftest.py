"""A real store loaded with the real registry of examples/prescriptions.csv, and app clients over it.

The registry, its segments and the MME rows are written by the CLI (`taperwise registry`, `taperwise
mme`) exactly as a user would run them, then published into a temporary store with the store's
own `publish_registry`, for two organisations, so that isolation can be tested with the same patients.
Every test that uses the store runs twice, on SQLite and on PostgreSQL (`backend`): the store is built
once per backend and each test gets a private copy (a file copy; `CREATE DATABASE … TEMPLATE`).
The harm events file is synthetic (two rows written here): examples/ has none. A second store
(`site_store_template`) holds the same prescriptions computed with a site's own settings (thresholds 50
and 100, 60 recent days, a 120-day lookback), so the labels can be shown to follow the settings in force.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from taperwise.cli import app as cli
from taperwise.store import open_store
from taperwise.store.repositories import create_user, publish_registry
from taperwise.web import create_app
from tests.dbs import BACKENDS, PostgresDatabases, pg_url

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "prescriptions.csv"
AS_OF = "2025-03-31"
PASSWORD = "correct horse battery staple"
SECRET = "kQ3vN8zR1tLw5YpXc7HbJ2mFd9SgUe4A6oTiZ0rVqWn"  # random-looking: the app refuses a patterned key
EVENTS = (
    "patient_id,date,kind,code,code_system\n"
    "S001,2025-03-10,opioid_overdose,T40.2X1A,ICD10CM\n"
    "S002,2025-02-01,emergency_visit,,\n"
)
# username -> (role, organisation)
USERS = {
    "dr.avery": ("clinician", "ORG-A"),
    "pharm.bell": ("pharmacist", "ORG-A"),
    "ana.lyst": ("analyst", "ORG-A"),
    "dr.other": ("clinician", "ORG-B"),
}


@dataclass(frozen=True)
class RegistryFiles:
    registry: Path
    metadata: Path
    segments: Path
    mme: Path
    events: Path


# A site's own registry settings: the default's, with these changes (see `site_registry_files`).
SITE_THRESHOLDS = (50, 100)
SITE_RECENT_DAYS = 60
SITE_LOOKBACK_DAYS = 120


def write_registry_files(out: Path, *options: str) -> RegistryFiles:
    """The registry of examples/prescriptions.csv and its MME rows, as the CLI writes them."""
    events = out / "events.csv"
    events.write_text(EVENTS, encoding="utf-8")
    runner = CliRunner()
    registry = out / "registry.csv"
    # Without --events: publish_registry cannot yet read the registry's `last_harm_event` ("kind date")
    # and refuses those rows; the events file is still published, so harm events reach the timeline.
    result = runner.invoke(cli, ["registry", str(EXAMPLE), "--as-of", AS_OF, "-o", str(registry), *options])
    assert result.exit_code == 0, result.output
    mme = out / "mme.csv"
    result = runner.invoke(cli, ["mme", str(EXAMPLE), "-o", str(mme)])
    assert result.exit_code == 0, result.output
    return RegistryFiles(registry, out / "registry.metadata.json", out / "registry.segments.csv", mme, events)


@pytest.fixture(scope="session")
def registry_files(tmp_path_factory: pytest.TempPathFactory) -> RegistryFiles:
    return write_registry_files(tmp_path_factory.mktemp("registry"))


@pytest.fixture(scope="session")
def site_registry_files(tmp_path_factory: pytest.TempPathFactory) -> RegistryFiles:
    """The same registry computed with a site's own settings file (`--settings`)."""
    out = tmp_path_factory.mktemp("site-registry")
    default = ROOT / "src" / "taperwise" / "knowledge" / "data" / "registry" / "flags.json"
    settings = json.loads(default.read_text(encoding="utf-8"))
    settings["version"] = "test-site-1"
    settings["high_dose"]["thresholds"] = list(SITE_THRESHOLDS)
    settings["recent_days"] = SITE_RECENT_DAYS
    settings["lookback_days"] = SITE_LOOKBACK_DAYS
    path = out / "site-settings.json"
    path.write_text(json.dumps(settings), encoding="utf-8")
    return write_registry_files(out, "--settings", str(path))


def build_store(url: str, files: RegistryFiles) -> None:
    store = open_store(url)
    try:
        with store.session() as s:
            for username, (role, organisation) in USERS.items():
                create_user(s, username, PASSWORD, role, organisations=[organisation],
                            display_name=username.replace(".", " ").title())  # fmt: skip
            for organisation in ("ORG-A", "ORG-B"):
                publish_registry(s, files.registry, files.metadata, files.segments, files.mme, files.events,
                                 organisation, prescriptions_path=EXAMPLE)  # fmt: skip
    finally:
        store.close()


@dataclass(frozen=True)
class StoreTemplate:
    """A loaded store built once per backend: a SQLite file, or a PostgreSQL database used as a template."""

    backend: str
    sqlite_path: Path | None = None
    pg_name: str | None = None
    postgres: PostgresDatabases | None = None

    @contextmanager
    def copy(self, directory: Path) -> Iterator[str]:
        """The URL of a private copy for one test (or one live server), removed afterwards."""
        if self.sqlite_path is not None:
            copy = directory / "app.db"
            copy.write_bytes(self.sqlite_path.read_bytes())
            yield f"sqlite:///{copy}"
            return
        assert self.postgres is not None
        assert self.pg_name is not None
        name = self.postgres.create(template=self.pg_name)
        try:
            yield pg_url(name)
        finally:
            self.postgres.drop(name)


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Every web test that touches the store runs on SQLite and on PostgreSQL."""
    name: str = request.param
    return name


def make_template(
    backend: str,
    files: RegistryFiles,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> StoreTemplate:
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("store") / "template.db"
        build_store(f"sqlite:///{path}", files)
        return StoreTemplate(backend, sqlite_path=path)
    postgres: PostgresDatabases = request.getfixturevalue("postgres")
    name = postgres.create()
    build_store(pg_url(name), files)  # closes its engine: a template must have no connections
    return StoreTemplate(backend, pg_name=name, postgres=postgres)


@pytest.fixture(scope="session")
def store_template(
    backend: str,
    registry_files: RegistryFiles,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> StoreTemplate:
    """The loaded store, built once per backend; each test gets its own copy (argon2 hashing is slow)."""
    return make_template(backend, registry_files, tmp_path_factory, request)


@pytest.fixture(scope="session")
def site_store_template(
    backend: str,
    site_registry_files: RegistryFiles,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> StoreTemplate:
    """A store whose snapshot was computed with the site's own settings (SITE_THRESHOLDS, …)."""
    return make_template(backend, site_registry_files, tmp_path_factory, request)


@pytest.fixture
def store_url(store_template: StoreTemplate, tmp_path: Path) -> Iterator[str]:
    with store_template.copy(tmp_path) as url:
        yield url


@pytest.fixture
def app(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FastAPI]:
    monkeypatch.delenv("TAPERWISE_DEV", raising=False)
    created = create_app(store_url, secret_key=SECRET)
    yield created
    created.state.store.close()  # before the copy is dropped: PostgreSQL keeps no idle connections


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    # https, because the session cookie is Secure outside dev mode and would not be sent over http.
    with TestClient(app, base_url="https://testserver") as test_client:
        yield test_client


def csrf_of(client: TestClient) -> str:
    """The CSRF token of the client's session, as a page shows it."""
    page = client.get("/login")
    marker = 'name="csrf-token" content="'
    start = page.text.index(marker) + len(marker)
    token: str = page.text[start : page.text.index('"', start)]
    return token


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> None:
    token = csrf_of(client)
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": token},
                           follow_redirects=False)  # fmt: skip
    assert response.status_code == 303, response.text


def patient_ids(client: TestClient) -> dict[str, int]:
    """Registry patient id -> app patient number, read through the API of the signed-in user."""
    items = client.get("/api/worklist").json()["items"]
    return {item["label"]: item["patient_id"] for item in items}


@pytest.fixture
def signed_in(client: TestClient) -> TestClient:
    sign_in(client, "dr.avery")
    return client
