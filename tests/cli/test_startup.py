"""The command line starts without the engine, the store or the web stack (issue 12: a fast start).

Every command that does not run the engine must not pay for importing it; the commands import what they
use inside their bodies. These tests fail when a top-level import brings a heavy library back.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version

import pytest

import taperwise

HEAVY = ("ibis", "duckdb", "pyspark", "pyarrow", "numpy", "pandas", "sqlalchemy", "alembic", "fastapi",
         "starlette", "jinja2", "uvicorn", "argon2", "weasyprint", "rich.progress", "rich.table")  # fmt: skip


def _modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(completed.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "argv",
    [
        ["--version"],
        ["--help"],
        ["registry", "--help"],
        ["users", "--help"],
        ["taper", "plan", "--help"],
        ["program", "score", "--help"],
    ],
)
def test_the_cli_starts_without_heavy_libraries(argv: list[str]) -> None:
    code = (
        "import sys\n"
        f"sys.argv = ['taperwise', *{argv!r}]\n"
        "from taperwise.cli import app\n"
        "try:\n    app()\nexcept SystemExit:\n    pass"
    )
    loaded = _modules_after(code)
    assert not sorted(name for name in HEAVY if name in loaded)


def test_importing_every_command_module_stays_light() -> None:
    loaded = _modules_after(
        "import taperwise.cli, taperwise.commands.exposure, taperwise.commands.registry, "
        "taperwise.commands.store, taperwise.commands.ingest, taperwise.commands.synth, "
        "taperwise.commands.taper, taperwise.commands.serve, taperwise.commands.program"
    )
    assert not sorted(name for name in HEAVY if name in loaded)


def test_the_version_is_written_once() -> None:
    # pyproject.toml reads it from taperwise/__init__.py; the installed metadata says the same.
    assert version("taperwise") == taperwise.__version__
