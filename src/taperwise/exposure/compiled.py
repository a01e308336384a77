"""Exposure expressions compiled once and run on a few rows at a time (the CDS Hooks services, tests).

Building and compiling an exposure expression costs about a second; an EHR's hook call brings a few
dozen prescriptions and expects an answer in well under that. So the expression is built once over two
tables it reads by name — the prescriptions (``cds_rx``) and their products (``cds_products``) — and
compiled to DuckDB SQL; every run executes that SQL on its own DuckDB cursor, where the run's rows are
temporary tables of those names that shadow the empty ones (a cursor's temporary tables are its own, so
runs go side by side and never see each other's rows). The lookup tables the expression joins (the
factor set) are made ordinary tables of the in-memory database, so every cursor reads them.

There is still one MME implementation: the SQL is the engine's own expression (`prescription_mme` and
what is built on it), and tests check that its rows equal those of the expression run the usual way.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import duckdb
import ibis
import ibis.expr.types as ir
import pyarrow as pa

from taperwise.exposure.engine import sql_name
from taperwise.exposure.mme import prescription_mme
from taperwise.exposure.prescriptions import ROW, prescription_arrow
from taperwise.exposure.products import PRODUCT_SCHEMA, ProductKey, product_rows
from taperwise.knowledge.codes import CodeTable
from taperwise.knowledge.factors import DEFAULT_FACTOR_SET, load_factor_set
from taperwise.plausible import DateRange

RX_TABLE = "cds_rx"
PRODUCTS_TABLE = "cds_products"
_TEMP_LOOKUP = re.compile(r'"temp"\."main"\."(lookup_[0-9a-f]+)"')

Build = Callable[[ir.Table], ir.Table]  # from the per-row MME table to the expression wanted


class CompiledExposure:
    """An expression over the per-row MME of some prescriptions, for one factor set and date range,
    compiled once; `run()` executes it on records. Thread-safe: each run has its own cursor."""

    def __init__(
        self,
        build: Build | None = None,
        factor_set: str = DEFAULT_FACTOR_SET,
        dates: DateRange | None = None,
        codes: CodeTable | None = None,
    ) -> None:
        self.factor_set = load_factor_set(factor_set)
        self.dates = dates or DateRange.from_environment()
        self.codes = codes
        self._database = duckdb.connect()
        self._lock = threading.Lock()
        backend = ibis.duckdb.from_connection(self._database)
        for name, empty in (
            (RX_TABLE, prescription_arrow([])),
            (PRODUCTS_TABLE, PRODUCT_SCHEMA.empty_table()),
        ):
            self._database.register("_empty", empty)
            self._database.execute(f"CREATE TABLE {name} AS SELECT * FROM _empty")
            self._database.unregister("_empty")
        rows = prescription_mme(
            backend.table(RX_TABLE), factor_set, codes, self.dates, products=backend.table(PRODUCTS_TABLE)
        )
        expression = rows if build is None else build(rows)
        self.schema = expression.schema().to_pyarrow()
        sql = str(backend.compile(expression))
        # The factor lookup tables were made temporary (per connection): copy them where cursors see them.
        for name in sorted(set(_TEMP_LOOKUP.findall(sql))):
            quoted = sql_name(name)
            self._database.execute(f"CREATE TABLE main.{quoted} AS SELECT * FROM temp.main.{quoted}")
            self._database.execute(f"DROP TABLE temp.main.{quoted}")
        self.sql = _TEMP_LOOKUP.sub(lambda match: sql_name(match.group(1)), sql)

    def _keys(self, records: Sequence[Mapping[str, object]]) -> set[ProductKey]:
        def code(record: Mapping[str, object], name: str) -> str:
            return str(record.get(name) or "") if self.codes is not None else ""

        return {
            (None if r.get("drug") is None else str(r["drug"]), code(r, "ndc"), code(r, "rxcui"))
            for r in records
        }

    def run(self, records: Sequence[Mapping[str, object]]) -> pa.Table:
        """The expression's result on canonical prescription records (values as text or numbers)."""
        prescriptions = prescription_arrow(records)
        products = product_rows(self._keys(records), self.factor_set, self.codes)
        with self._lock:
            cursor = self._database.cursor()
        try:
            cursor.register("_rx_in", prescriptions)
            cursor.register("_products_in", products)
            cursor.execute(f"CREATE TEMP TABLE {RX_TABLE} AS SELECT * FROM _rx_in")
            cursor.execute(f"CREATE TEMP TABLE {PRODUCTS_TABLE} AS SELECT * FROM _products_in")
            result = cursor.execute(self.sql).to_arrow_table()
        finally:
            cursor.close()
        return result.cast(self.schema)

    def close(self) -> None:
        self._database.close()


@dataclass
class _Pending:
    """One caller's records waiting for a batch, and what the batch gave it."""

    records: Sequence[Mapping[str, object]]
    ready: threading.Event = field(default_factory=threading.Event)
    leader: bool = False
    result: pa.Table | None = None
    error: BaseException | None = None


BATCH_SEPARATOR = "\u241f"  # never in an id (FHIR ids are [A-Za-z0-9.-]): a batch's call number before it
_REPEAT = re.compile(r"rx_id repeats input row (\d+)")


class CompiledMme(CompiledExposure):
    """`prescription_mme` compiled once: `rows()` gives the per-row MME of records, in their order.

    Calls that arrive while a query runs are batched into the next query (one caller leads each batch,
    the others wait): DuckDB's cost per query is nearly all fixed (planning and setting up the plan's
    operators: ~50 ms for a dozen rows or a few hundred), so twenty concurrent hook calls cost about one
    query, not twenty. Within a batch each call's ids are kept apart (its non-empty ``rx_id``s carry its
    number while the query runs), so a repeated id is found only within one call, and the row a repeat
    names is counted within that call.
    """

    def __init__(
        self,
        factor_set: str = DEFAULT_FACTOR_SET,
        dates: DateRange | None = None,
        codes: CodeTable | None = None,
        max_batch: int = 64,
    ) -> None:
        super().__init__(None, factor_set, dates, codes)
        self.max_batch = max_batch
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()
        self._busy = False

    def rows(self, records: Sequence[Mapping[str, object]]) -> pa.Table:
        pending = _Pending(records)
        with self._queue_lock:
            self._queue.append(pending)
            if not self._busy:
                self._busy = True
                pending.leader = True
                pending.ready.set()
        pending.ready.wait()
        if pending.leader and pending.result is None and pending.error is None:
            self._lead()
        if pending.error is not None:
            raise pending.error
        assert pending.result is not None
        return pending.result

    def _lead(self) -> None:
        """Run one batch of the waiting calls, then hand the lead to the first call still waiting."""
        with self._queue_lock:
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
        try:
            results = self._run_batch([p.records for p in batch])
            for item, result in zip(batch, results, strict=True):
                item.result = result
        except BaseException as exc:  # every caller of the batch hears of it, none waits forever
            for item in batch:
                item.error = exc
        with self._queue_lock:
            for item in batch:
                item.leader = False
                item.ready.set()
            if self._queue:
                self._queue[0].leader = True
                self._queue[0].ready.set()
            else:
                self._busy = False

    def _run_batch(self, calls: list[Sequence[Mapping[str, object]]]) -> list[pa.Table]:
        if len(calls) == 1:
            return [self.run(calls[0]).sort_by(ROW)]
        combined: list[Mapping[str, object]] = []
        offsets = []
        for number, records in enumerate(calls):
            offsets.append(len(combined))
            for record in records:
                rx_id = record.get("rx_id")
                marked = f"{number}{BATCH_SEPARATOR}{rx_id}" if rx_id not in (None, "") else rx_id
                combined.append({**record, "rx_id": marked})
        table = self.run(combined).sort_by(ROW)
        results = []
        for number, records in enumerate(calls):
            start = offsets[number]
            part = table.slice(start, len(records))
            results.append(_unbatched(part, start))
        return results


def _unbatched(part: pa.Table, offset: int) -> pa.Table:
    """One call's rows of a batch as if run alone: its ids, its row numbers, the rows its repeats name."""
    rows = part.to_pylist()
    for row in rows:
        row[ROW] -= offset
        if isinstance(row["rx_id"], str) and BATCH_SEPARATOR in row["rx_id"]:
            row["rx_id"] = row["rx_id"].split(BATCH_SEPARATOR, 1)[1]
        if isinstance(row["reason"], str) and "rx_id repeats input row" in row["reason"]:
            row["reason"] = _REPEAT.sub(
                lambda m: f"rx_id repeats input row {int(m.group(1)) - offset}", row["reason"]
            )
    return pa.Table.from_pylist(rows, schema=part.schema)
