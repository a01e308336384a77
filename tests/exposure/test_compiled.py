"""The compiled path (taperwise.exposure.compiled) gives exactly the rows of the engine run the usual way.

The CDS Hooks services and the exposure test helpers run the engine's expressions compiled once over
named tables; these tests hold that path to the usual one (the expression over a memtable, compiled per
call) on random prescriptions with malformed values, on the sample, on the hostile corpus, and for the
per-row MME, the segments and the registry. Rows are compared value by value, types included.
"""

from __future__ import annotations

import csv
import datetime as dt
import threading
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from taperwise.exposure.compiled import CompiledExposure, CompiledMme
from taperwise.exposure.mme import prescription_mme
from taperwise.exposure.prescriptions import ROW, prescriptions_from_records
from taperwise.exposure.registry import registry
from taperwise.exposure.segments import constant_segments
from taperwise.knowledge.registry import load_priority_rules, load_registry_settings
from tests.exposure.helpers import ALPRAZOLAM, BUPRENORPHINE_PATCH, FENTANYL_25, OXY_APAP, OXY_ER_30

ROOT = Path(__file__).resolve().parents[2]
AS_OF = dt.date(2025, 3, 31)
PRODUCTS = [OXY_ER_30, FENTANYL_25, OXY_APAP, ALPRAZOLAM, BUPRENORPHINE_PATCH, "not a product", "", None]
TEXT = st.one_of(
    st.sampled_from(["30", "0", "-5", "", "abc", "1e400", "NaN", "2.5", " 7 "]), st.integers(-3, 90).map(str)
)
record = st.fixed_dictionaries(
    {
        "patient_id": st.sampled_from(["p1", "p2", ""]),
        "rx_id": st.sampled_from(["r1", "r2", "r3", "r4", ""]),
        "drug": st.sampled_from(PRODUCTS),
        "start_date": st.sampled_from(["2025-01-05", "2025-03-01", "2025-13-01", "", "1850-01-01"]),
        "days_supply": TEXT,
        "quantity": TEXT,
    },
    optional={"units_per_day": TEXT, "status": st.sampled_from(["active", "cancelled", "draft"])},
)


def _usual_mme(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    table = prescription_mme(prescriptions_from_records(records))
    return table.order_by(ROW).to_pyarrow().to_pylist()


def _segments(rows: Any) -> Any:
    return constant_segments(rows)


def _registry(rows: Any) -> Any:
    return registry(rows, AS_OF, load_registry_settings(), load_priority_rules())


def _key(row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(row[name]) for name in sorted(row))


@cache
def compiled(build: Any = None) -> CompiledExposure:
    return CompiledMme() if build is None else CompiledExposure(build)


@settings(max_examples=8, deadline=None)
@given(st.lists(record, min_size=1, max_size=8))
def test_the_compiled_mme_segments_and_registry_are_the_usual_ones_on_malformed_records(records):
    assert compiled().rows(records).to_pylist() == _usual_mme(records)
    usual_segments = constant_segments(prescription_mme(prescriptions_from_records(records)))
    assert sorted(compiled(_segments).run(records).to_pylist(), key=_key) == sorted(
        usual_segments.to_pyarrow().to_pylist(), key=_key
    )
    usual_registry = _registry(prescription_mme(prescriptions_from_records(records)))
    assert sorted(compiled(_registry).run(records).to_pylist(), key=_key) == sorted(
        usual_registry.to_pyarrow().to_pylist(), key=_key
    )


def _csv(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_compiled_mme_is_the_usual_one_on_the_sample_and_the_hostile_corpus():
    for path in [
        ROOT / "examples" / "prescriptions.csv",
        *sorted((ROOT / "tests" / "hostile" / "exposure").glob("*.csv")),
    ]:
        records = _csv(path)
        assert compiled().rows(records).to_pylist() == _usual_mme(records), path.name
        assert compiled().rows(records).schema == compiled().schema


def test_runs_side_by_side_never_see_each_others_rows():
    """Each run's rows are temporary tables of its own cursor: twenty threads, each its own patient."""
    results: dict[int, list[str]] = {}

    def run(n: int) -> None:
        records = [
            {"patient_id": f"p{n}", "rx_id": f"r{n}-{i}", "drug": OXY_ER_30, "start_date": "2025-01-01",
             "days_supply": "30", "quantity": str(60 + n)}
            for i in range(n % 4 + 1)
        ]  # fmt: skip
        results[n] = [row["patient_id"] for row in compiled().rows(records).to_pylist()]

    threads = [threading.Thread(target=run, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {n: [f"p{n}"] * (n % 4 + 1) for n in range(20)}


def test_an_empty_call_gives_no_rows_with_the_columns():
    table = compiled().rows([])
    assert table.num_rows == 0
    assert table.schema == compiled().schema


def test_calls_batched_together_give_each_the_rows_it_would_have_alone():
    """Twenty calls at once are run as batches; each gets exactly its rows as if run alone: its own ids,
    repeats found only within it (and the row a repeat names counted within it), in its order."""
    products = [OXY_ER_30, FENTANYL_25, OXY_APAP]
    calls = []
    for n in range(20):
        records = [
            {"patient_id": "same-patient", "rx_id": f"r{i % 3}", "drug": products[i % 3],
             "start_date": "2025-01-01", "days_supply": "30", "quantity": str(30 + n)}
            for i in range(n % 5 + 1)
        ]  # fmt: skip
        records.append({"patient_id": "same-patient", "rx_id": "", "drug": OXY_ER_30,
                        "start_date": "2025-01-01", "days_supply": "30", "quantity": "60"})  # fmt: skip
        calls.append(records)
    expected = [_usual_mme(records) for records in calls]
    sizes: list[int] = []

    class Counted(CompiledMme):
        def _run_batch(self, batch: list[Any]) -> list[Any]:
            sizes.append(len(batch))
            return super()._run_batch(batch)

    mme = Counted()
    results: dict[int, list[dict[str, Any]]] = {}
    barrier = threading.Barrier(20)

    def run(n: int) -> None:
        barrier.wait()
        results[n] = mme.rows(calls[n]).to_pylist()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [results[n] for n in range(20)] == expected
    assert sum(sizes) == 20
    assert max(sizes) > 1, "no call was batched with another"
    assert any("rx_id repeats input row 1" in (row["reason"] or "") for rows in expected for row in rows)
