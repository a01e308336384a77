"""The same expressions on DuckDB and on Spark (local mode) give the same answers, to the cent.

Spark runs here in local mode, as `make test` runs it; `--engine spark` with TAPERWISE_SPARK_MASTER points
the same code at a cluster.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import ibis
import pytest

from taperwise.exposure.engine import connect
from taperwise.exposure.mme import EXTRA_COLUMNS, MME_COLUMNS, prescription_mme
from taperwise.exposure.prescriptions import ROW, read_prescriptions
from taperwise.exposure.refills import carry_forward
from taperwise.exposure.registry import registry, run_registry
from taperwise.exposure.segments import constant_segments
from taperwise.exposure.windows import window_metrics
from taperwise.knowledge.registry import load_priority_rules, load_registry_settings
from taperwise.synth.generator import SynthOptions
from taperwise.synth.run import synthesize

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "prescriptions.csv"


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("synth") / "rx.csv"
    synthesize(SynthOptions(patients=150, seed=11), "csv", path)
    return path


def outputs(engine: str, source: Path, as_of: dt.date) -> dict[str, list[dict[str, Any]]]:
    with connect(engine) as con:
        # computed once and held by the engine, as the commands do (`computed_once`, `run_registry`):
        # every expression below then plans from the held rows, not from the file again
        rows = prescription_mme(read_prescriptions(source, con)).cache()
        segments = constant_segments(rows)
        window = (as_of - dt.timedelta(days=89), as_of)
        expressions: dict[str, ibis.Table] = {
            "mme": rows.order_by(ROW).select(*MME_COLUMNS, *EXTRA_COLUMNS),
            "segments": segments.order_by(["patient_id", "start_date"]),
            "window": window_metrics(rows, segments, *window).order_by("patient_id"),
            "registry": registry(rows, as_of, load_registry_settings(), load_priority_rules()).order_by(
                "patient_id"
            ),
            "segments carried forward": constant_segments(carry_forward(rows)),
            "registry carried forward": registry(
                rows, as_of, load_registry_settings(), load_priority_rules(), early_refills="carry-forward"
            ).order_by("patient_id"),
        }
        results = {name: con.to_pyarrow(expr).to_pylist() for name, expr in expressions.items()}
        settings, rules = load_registry_settings(), load_priority_rules()
        with run_registry(rows, as_of, settings, rules) as run:  # what `taperwise registry` runs
            results["command registry"] = con.to_pyarrow(run.table.order_by("patient_id")).to_pylist()
            results["command segments"] = con.to_pyarrow(run.segments).to_pylist()
        rows.release()
        return results


@pytest.mark.parametrize(
    ("source", "as_of"),
    [("sample", dt.date(2025, 3, 31)), ("synthetic", dt.date(2025, 6, 30))],
    ids=["sample", "synthetic"],
)
def test_duckdb_and_spark_agree_exactly(synthetic: Path, source: str, as_of: dt.date):
    path = SAMPLE if source == "sample" else synthetic
    on_duckdb = outputs("duckdb", path, as_of)
    on_spark = outputs("spark", path, as_of)
    for name in on_duckdb:
        assert len(on_spark[name]) == len(on_duckdb[name]), name
        assert on_spark[name] == on_duckdb[name], name
    assert on_duckdb["command registry"] == on_duckdb["registry"]
    listed = {row["patient_id"] for row in on_duckdb["registry"]}
    assert on_duckdb["command segments"] == [s for s in on_duckdb["segments"] if s["patient_id"] in listed]
    assert any(row["status"] == "ok" for row in on_duckdb["mme"])
    if source == "synthetic":  # the generator's early refills: the comparison covers both rules
        assert any(s["overlapping_fills"] > 0 for s in on_duckdb["segments"])
        assert on_duckdb["segments carried forward"] != on_duckdb["segments"]
    assert on_duckdb["registry"], "the comparison must cover a non-empty registry"
