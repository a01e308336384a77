"""Open an OMOP CDM — a DuckDB file, a folder of CSVs, or PostgreSQL — as one set of DuckDB views.

Every source ends up as views named after the CDM tables (``drug_exposure``, ``concept``…) with lower-case
column names and **text** values, in an in-memory DuckDB. The mapping SQL is then written once and casts
with ``try_cast`` where it needs a number or a date, so a malformed value becomes a problem on its row
rather than an error that stops the file. DuckDB scans files and attached databases lazily, so nothing
is loaded whole into Python.

A CSV that is not UTF-8 throughout is read from a copy in which the bytes that are not are marked
(`taperwise.ingest.text.utf8_csv`): each row holding them is a ``bad_encoding`` problem naming the file and
row, and is left out of the table; the other rows are read. A byte-order mark is accepted.

PostgreSQL is streamed with ``COPY … TO STDOUT`` into CSV files in a temporary folder (DuckDB's postgres
extension is not available offline), then read like a CSV folder; ``concept`` is copied only for the
concept ids the other tables use, since a full vocabulary holds millions of rows.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from taperwise.errors import UnusableInputError
from taperwise.ingest.common import IngestSink
from taperwise.ingest.omop.tables import TABLES, TableSpec
from taperwise.ingest.text import BAD_BYTES, shown, utf8_csv

DUCKDB_SUFFIXES = (".duckdb", ".db", ".ddb")
CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".txt")
# Some exports (Eunomia's DuckDB among them) turn an empty CSV into a one-row table whose columns are
# named column0, column1… and whose single row is the header. Those rows are recognised and skipped.
_GENERIC_COLUMN = re.compile(r"^column\d+$")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def real_id(value: str | None) -> str | None:
    """OMOP writes 0 for "no provider / care site / concept"; it is not an identifier."""
    return None if value in (None, "", "0") else value


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class OmopSource:
    """The CDM tables found in one source, as DuckDB views; `present` lists the usable ones."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, label: str) -> None:
        self.connection = connection
        self.label = label
        self.present: set[str] = set()
        self._scratch: tempfile.TemporaryDirectory[str] | None = None

    def scratch(self) -> Path:
        """A temporary folder that lives as long as the source (for copies of files)."""
        if self._scratch is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="taperwise-omop-")
        return Path(self._scratch.name)

    def close(self) -> None:
        self.connection.close()
        if self._scratch is not None:
            self._scratch.cleanup()

    def has(self, table: str) -> bool:
        return table in self.present

    def add_view(self, spec: TableSpec, relation_sql: str, columns: dict[str, str], sink: IngestSink) -> None:
        """Create view `spec.name` over `relation_sql`, whose lower-case → actual column names are given.

        An essential table missing a required column stops the ingest; any other table is reported and
        skipped; a missing optional column becomes NULL and one problem line.
        """
        missing = [name for name in spec.required if name not in columns]
        if missing:
            message = f"{spec.name}: required column(s) missing: {', '.join(missing)}"
            if spec.essential:
                raise UnusableInputError(f"{self.label}: {message} (found: {', '.join(columns) or 'none'})")
            sink.report(spec.name, "", "missing_column", f"{message}; the table is not used")
            return
        selected = []
        for name in spec.columns:
            if name in columns:
                selected.append(f"CAST({quote(columns[name])} AS VARCHAR) AS {name}")
            else:
                selected.append(f"CAST(NULL AS VARCHAR) AS {name}")
                sink.report(spec.name, "", "missing_column", f"{spec.name}: optional column {name} is absent")
        self.connection.execute(
            f"CREATE OR REPLACE VIEW {spec.name} AS SELECT {', '.join(selected)} FROM {relation_sql}"
        )
        self.present.add(spec.name)

    def report_absent(self, sink: IngestSink) -> None:
        for spec in TABLES:
            if spec.name in self.present:
                continue
            if spec.essential:
                raise UnusableInputError(f"{self.label}: table {spec.name} not found; it is required")
            sink.report(spec.name, "", "missing_table", f"table {spec.name} not found in {self.label}")


def _header_row_filter(
    connection: duckdb.DuckDBPyConnection, relation_sql: str, actual: list[str]
) -> tuple[dict[str, str], str]:
    """For a table whose columns are column0…N, use its first row as the header when it is one."""
    if not actual or not all(_GENERIC_COLUMN.match(name) for name in actual):
        return {name.lower(): name for name in actual}, relation_sql
    row = connection.execute(f"SELECT * FROM {relation_sql} LIMIT 1").fetchone()
    names = [str(value).strip().lower() if value is not None else "" for value in row or ()]
    if not names or not all(_IDENTIFIER.match(name) for name in names):
        return {name.lower(): name for name in actual}, relation_sql
    not_header = " OR ".join(
        f"{quote(col)} IS DISTINCT FROM {literal(str(value))}"
        for col, value in zip(actual, row or (), strict=True)
    )
    filtered = f"(SELECT * FROM {relation_sql} WHERE {not_header})"
    return dict(zip(names, actual, strict=True)), filtered


def _open_duckdb_file(path: Path, schema: str | None, sink: IngestSink) -> OmopSource:
    connection = duckdb.connect()
    try:
        connection.execute(f"ATTACH {literal(str(path))} AS omop_source (READ_ONLY)")
    except duckdb.Error as exc:
        connection.close()
        raise UnusableInputError(f"{path}: cannot be opened as a DuckDB database ({exc})") from exc
    wanted_schema = schema or "main"
    rows = connection.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'omop_source' "
        "AND lower(table_schema) = lower(?)",
        [wanted_schema],
    ).fetchall()
    tables = {str(name).lower(): str(name) for (name,) in rows}
    source = OmopSource(connection, f"{path} (schema {wanted_schema})")
    for spec in TABLES:
        if spec.name not in tables:
            continue
        relation = f"omop_source.{quote(wanted_schema)}.{quote(tables[spec.name])}"
        actual = [str(r[0]) for r in connection.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()]
        columns, relation = _header_row_filter(connection, relation, actual)
        source.add_view(spec, relation, columns, sink)
    source.report_absent(sink)
    return source


def _csv_files(folder: Path) -> dict[str, Path]:
    """CDM table name → file, matching ``DRUG_EXPOSURE.csv``, ``drug_exposure.csv.gz`` … alike."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        name = path.name.lower()
        for suffix in CSV_SUFFIXES:
            if name.endswith(suffix) and path.is_file():
                found.setdefault(name[: -len(suffix)], path)
    return found


def _open_csv_folder(folder: Path, sink: IngestSink) -> OmopSource:
    connection = duckdb.connect()
    source = OmopSource(connection, str(folder))
    files = _csv_files(folder)
    for spec in TABLES:
        path = files.get(spec.name)
        if path is None:
            continue
        if path.stat().st_size == 0:
            sink.report(path.name, "", "empty_file", f"{path.name} is empty (a header row is required)")
            continue
        try:
            marked = utf8_csv(path, source.scratch())
        except UnusableInputError as exc:
            if spec.essential:
                raise
            sink.report(path.name, "", "unreadable_file", str(exc))
            continue
        relation = f"read_csv({literal(str(marked or path))}, all_varchar = true, header = true)"
        try:
            actual = [str(r[0]) for r in connection.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()]
        except duckdb.Error as exc:
            if spec.essential:
                raise UnusableInputError(f"{path}: cannot be read as CSV ({exc})") from exc
            sink.report(path.name, "", "unreadable_file", f"{path.name} cannot be read as CSV: {exc}")
            continue
        if marked is not None:
            relation = _without_bad_rows(connection, path.name, relation, actual, sink)
        columns = {name.strip().lower(): name for name in actual}
        source.add_view(spec, relation, columns, sink)
    source.report_absent(sink)
    return source


def _without_bad_rows(
    connection: duckdb.DuckDBPyConnection, name: str, relation: str, actual: list[str], sink: IngestSink
) -> str:
    """Report each row of a marked copy that held bytes that are not UTF-8; the relation without them."""
    numbered = f"(SELECT row_number() OVER () AS _taperwise_row, * FROM {relation})"
    bad = " OR ".join(f"contains(coalesce({quote(col)}, ''), {literal(BAD_BYTES)})" for col in actual)
    cursor = connection.execute(
        f"SELECT _taperwise_row, * EXCLUDE (_taperwise_row) FROM {numbered} WHERE {bad}"
    )
    while batch := cursor.fetchmany(10_000):
        for number, *values in batch:
            held = [col for col, value in zip(actual, values, strict=True) if value and BAD_BYTES in value]
            sink.report(
                f"{name} row {number}",
                shown(values[0]),
                "bad_encoding",
                f"{', '.join(held)} hold(s) bytes that are not UTF-8 text; the row is not read "
                "(save the file as UTF-8)",
            )
    return f"(SELECT * EXCLUDE (_taperwise_row) FROM {numbered} WHERE NOT ({bad}))"


def _concept_filter(columns: dict[str, dict[str, str]]) -> str:
    """A WHERE clause keeping only the concepts referenced by the other tables that were found."""
    uses = {
        "drug_exposure": ("drug_concept_id", "drug_type_concept_id", "route_concept_id"),
        "drug_strength": (
            "drug_concept_id",
            "ingredient_concept_id",
            "amount_unit_concept_id",
            "numerator_unit_concept_id",
            "denominator_unit_concept_id",
        ),
        "visit_occurrence": ("visit_concept_id",),
        "condition_occurrence": ("condition_concept_id", "condition_source_concept_id"),
    }
    selects = []
    for table, names in uses.items():
        if table not in columns:
            continue
        for name in names:
            if name in columns[table]:
                selects.append(f"SELECT {quote(columns[table][name])} FROM {{schema}}.{quote(table)}")
    concept_id = quote(columns["concept"].get("concept_id", "concept_id"))
    return f" WHERE {concept_id} IN ({' UNION '.join(selects)})" if selects else ""


def _copy_postgres(url: str, schema: str, folder: Path) -> None:
    import psycopg

    try:
        connection = psycopg.connect(url)
    except psycopg.Error as exc:
        raise UnusableInputError(f"{_safe_url(url)}: cannot connect to PostgreSQL ({exc})") from exc
    with connection:
        rows = connection.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s",
            [schema],
        ).fetchall()
        columns: dict[str, dict[str, str]] = {}
        actual_tables: dict[str, str] = {}
        for table, column in rows:
            actual_tables[str(table).lower()] = str(table)
            columns.setdefault(str(table).lower(), {})[str(column).lower()] = str(column)
        for spec in TABLES:
            if spec.name not in actual_tables:
                continue
            where = ""
            if spec.name == "concept":
                where = _concept_filter(columns).replace("{schema}", quote(schema))
            query = f"COPY (SELECT * FROM {quote(schema)}.{quote(actual_tables[spec.name])}{where}) TO STDOUT"
            with (
                (folder / f"{spec.name}.csv").open("wb") as handle,
                connection.cursor().copy(query + " WITH (FORMAT csv, HEADER true)") as copy,
            ):
                for block in copy:
                    handle.write(block)


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


@contextmanager
def open_omop(source: str | Path, schema: str | None, sink: IngestSink) -> Iterator[OmopSource]:
    """The CDM in `source` as DuckDB views; raises UnusableInputError when it cannot be used at all."""
    text = str(source)
    if text.startswith(("postgresql://", "postgres://")):
        with tempfile.TemporaryDirectory(prefix="taperwise-omop-") as folder:
            _copy_postgres(text, schema or "public", Path(folder))
            opened = _open_csv_folder(Path(folder), sink)
            opened.label = f"{_safe_url(text)} (schema {schema or 'public'})"
            try:
                yield opened
            finally:
                opened.close()
        return
    path = Path(source)
    if not path.exists():
        raise UnusableInputError(f"{path}: no such file or folder")
    if path.is_dir():
        opened = _open_csv_folder(path, sink)
    elif path.suffix.lower() in DUCKDB_SUFFIXES:
        opened = _open_duckdb_file(path, schema, sink)
    else:
        raise UnusableInputError(
            f"{path}: not an OMOP source; give a .duckdb/.db file, a folder of CSVs or a postgresql:// URL"
        )
    try:
        yield opened
    finally:
        opened.close()
