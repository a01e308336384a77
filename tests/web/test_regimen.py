"""The current regimen a clinician reads: each drug's latest supply, even one that ended days ago."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

from taperwise.store.models import RegistrySnapshot
from taperwise.store.worklist import PatientView, PrescriptionRow
from taperwise.web.picture import current_regimen

AS_OF = dt.date(2025, 3, 31)


def rx(rx_id: str, ingredient: str, start: str, end: str, mme: str | None, status: str = "ok",
       drug_class: str = "opioid") -> PrescriptionRow:  # fmt: skip
    first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    dose = None if mme is None else Decimal(mme)
    return PrescriptionRow(rx_id, f"{ingredient} product", ingredient, first, last, 30, Decimal(60), dose,
                           status, None, drug_class, "oral", "DR-A", "PH-1")  # fmt: skip


def view(*prescriptions: PrescriptionRow) -> PatientView:
    snapshot = RegistrySnapshot(as_of=AS_OF)
    return PatientView(1, True, "S1", "P-1", "ORG", None, None, None, False, snapshot, None, [],
                       list(prescriptions), [])  # fmt: skip


def test_a_fill_that_ended_three_days_ago_is_still_the_regimen() -> None:
    lines = current_regimen(
        view(
            rx("m1", "morphine", "2025-01-28", "2025-02-26", "120"),
            rx("m2", "morphine", "2025-02-27", "2025-03-28", "120"),  # ended 3 days before the registry date
            rx("c1", "clonazepam", "2025-03-15", "2025-04-13", None, drug_class="benzodiazepine"),
        ),
        180,
    )
    assert [(line.prescription.rx_id, line.days_since_end) for line in lines] == [("c1", 0), ("m2", 3)]
    assert lines[0].covers
    assert not lines[1].covers


def test_supply_outside_the_lookback_and_excluded_records_are_not_the_regimen() -> None:
    lines = current_regimen(
        view(
            rx("old", "oxycodone", "2024-06-01", "2024-06-30", "45"),
            rx("void", "tramadol", "2025-03-20", "2025-04-18", "20", status="excluded"),
            rx("future", "codeine", "2025-04-02", "2025-05-01", "15"),
        ),
        180,
    )
    assert lines == []


def test_a_supply_whose_dose_is_unknown_is_shown_not_dropped() -> None:
    (line,) = current_regimen(view(rx("x", "methadone", "2025-03-01", "2025-03-30", None,
                                      status="insufficient_data")), 180)  # fmt: skip
    assert line.prescription.daily_mme is None
    assert line.days_since_end == 1


def test_the_dose_now_above_flag_uses_the_threshold_the_snapshot_was_computed_with() -> None:
    from taperwise.store.models import RegistryEntry
    from taperwise.web.picture import flags_of

    entry = RegistryEntry(avg_daily_mme_90d=Decimal(40), current_daily_mme=Decimal(80), dose_complete=True,
                          restarted_after_gap=False, high_dose_50=False, high_dose_90=False,
                          benzo_overlap_days_90d=0, ltot=False, multi_provider=False, new_prescriber=False,
                          buprenorphine_days_90d=0, problem_records_180d=0)  # fmt: skip
    values: dict[str, object] = {"low": 50, "high": 90, "recent": 90, "lookback": 180}
    assert [f.name for f in flags_of(entry, {}, values)] == ["current_daily_mme"]
    assert flags_of(entry, {}, values | {"low": 90, "high": 120}) == []  # a site whose low line is 90


def _engine_reasons(*records: dict[str, str]) -> dict[str, tuple[str, str]]:
    from taperwise.exposure.mme import prescription_mme
    from taperwise.exposure.prescriptions import prescriptions_from_records

    rows = prescription_mme(prescriptions_from_records(list(records))).to_pyarrow().to_pylist()
    return {row["rx_id"]: (row["status"], row["reason"]) for row in rows}


def test_buprenorphine_is_the_regimen_though_not_in_mme_and_void_records_are_not() -> None:
    base = {"patient_id": "S1", "start_date": "2025-03-03", "days_supply": "28", "quantity": "4"}
    patch = "Buprenorphine 0.01 MG/HR 7 DAY Transdermal System"
    reasons = _engine_reasons(
        {**base, "rx_id": "bup", "drug": patch},
        {**base, "rx_id": "void", "drug": patch, "status": "cancelled"},
        {**base, "rx_id": "sl", "drug": "Buprenorphine 8 MG Sublingual Tablet", "route": "sublingual"},
    )  # the MME stage's own words, so a change of its reasons cannot silently empty the regimen
    assert {status for status, _ in reasons.values()} == {"excluded"}
    routes = {"bup": "transdermal", "void": "transdermal", "sl": "sublingual"}
    rows = [
        replace(
            rx(name, "buprenorphine", "2025-03-03", "2025-03-30", None, status, drug_class="buprenorphine"),
            reason=reason,
            route=routes[name],
        )
        for name, (status, reason) in reasons.items()
    ]
    lines = current_regimen(view(*rows), 180)
    # one line per drug and route: the patch (for pain) and the sublingual tablet (opioid use disorder);
    # the cancelled record is no supply, though it is the same product
    assert sorted(line.prescription.rx_id for line in lines) == ["bup", "sl"]
