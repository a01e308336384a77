"""Deterministic canonical prescriptions for benchmarks: chronic courses with refills, overlaps and gaps."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

PRODUCTS = [
    ("Oxycodone Hydrochloride 5 MG Oral Tablet", 4),
    ("12 HR Oxycodone Hydrochloride 20 MG Extended Release Oral Tablet", 2),
    ("Acetaminophen 325 MG / Hydrocodone Bitartrate 10 MG Oral Tablet", 4),
    ("72 HR Fentanyl 0.025 MG/HR Transdermal System", 0),
    ("Morphine 30mg modified-release tablets", 2),
    ("TRAMADOL HCL 50 MG TAB", 4),
    ("Co-codamol 30mg/500mg tablets", 8),
    ("Alprazolam 0.5 MG Oral Tablet", 2),
]


def make_prescriptions(n: int, path: Path, seed: int = 7) -> Path:
    """Write `n` prescriptions for about n/12 patients: monthly fills with jitter, some early refills."""
    rng = np.random.default_rng(seed)
    patients = max(n // 12, 1)
    patient = rng.integers(0, patients, n)
    product = rng.integers(0, len(PRODUCTS), n)
    fill = rng.integers(0, 12, n)
    jitter = rng.integers(-5, 6, n)
    days = rng.choice(np.array([7, 14, 28, 30, 30, 30, 90]), n)
    base = dt.date(2024, 1, 1)
    start = np.array(base, dtype="datetime64[D]") + fill * 30 + jitter + (patient % 30)
    per_day = np.array([p[1] for p in PRODUCTS])[product]
    quantity = np.where(per_day == 0, np.maximum(days // 3, 1), per_day * days)
    table = pa.table(
        {
            "patient_id": pa.array([f"P{p:08d}" for p in patient]),
            "rx_id": pa.array([f"R{i:09d}" for i in range(n)]),
            "drug": pa.array([PRODUCTS[i][0] for i in product]),
            "start_date": pa.array(start.astype(str)),
            "days_supply": pa.array(days.astype(str)),
            "quantity": pa.array(quantity.astype(str)),
        }
    )
    pq.write_table(table, path)
    return path
