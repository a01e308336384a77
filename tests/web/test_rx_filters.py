"""The patient page's one prescription table: every row once, newest first, filters that only narrow,
choices taken from the viewer's own rows, and refused values that are never echoed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from taperwise.store.worklist import PrescriptionRow
from taperwise.web.rx_filters import prescription_table

D = dt.date.fromisoformat


def rx(rx_id: str, ingredient: str | None, start: str | None, days: int | None, prescriber: str | None,
       pharmacy: str | None, status: str = "ok", mme: str | None = "30") -> PrescriptionRow:  # fmt: skip
    first = None if start is None else D(start)
    last = None if first is None or days is None else first + dt.timedelta(days=days - 1)
    dose = None if mme is None else Decimal(mme)
    drug = None if ingredient is None else f"{ingredient} tablets"
    return PrescriptionRow(rx_id, drug, ingredient, first, last, days, Decimal(60), dose,
                           status, None, "opioid", "oral", prescriber, pharmacy)  # fmt: skip


ROWS = [
    rx("a", "oxycodone", "2025-01-01", 30, "DR-A", "PH-1"),
    rx("b", "oxycodone", "2025-03-01", 30, "DR-B", "PH-3"),
    rx("c", "alprazolam", "2025-01-10", 30, "DR-C", "PH-2", status="not_opioid", mme=None),
    rx("d", "oxycodone", None, 30, "DR-B", "PH-2", status="insufficient_data", mme=None),  # no usable date
    rx("e", "morphine", "2025-02-01", 30, None, "PH-1"),
    rx("f", None, "2025-02-15", None, "DR-A", None, status="unrecognized", mme=None),
]


def ids(params: dict[str, str]) -> list[str | None]:
    table = prescription_table(ROWS, params)
    assert table.error is None, table.error
    return [row.rx_id for row in table.rows]


def test_every_prescription_is_shown_once_newest_first_with_undated_records_last():
    assert ids({}) == ["b", "f", "e", "c", "a", "d"]
    assert ids({"sort": "oldest"}) == ["a", "c", "e", "f", "b", "d"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"prescriber": "DR-B"}, ["b", "d"]),
        ({"prescriber": "(not recorded)"}, ["e"]),  # no prescriber on the record: still findable
        ({"pharmacy": "PH-1"}, ["e", "a"]),
        ({"drug": "oxycodone"}, ["b", "a", "d"]),  # every oxycodone product, by its ingredient
        ({"drug": "(unknown)"}, ["f"]),
        ({"status": "insufficient_data"}, ["d"]),
        ({"prescriber": "DR-B", "pharmacy": "PH-2"}, ["d"]),
        ({"prescriber": "DR-A", "status": "not_opioid"}, []),
        ({"from": "2025-02-10"}, ["b", "e"]),  # supply overlapping the range (e runs to 2025-03-02)
        ({"to": "2025-01-09"}, ["a"]),
        ({"from": "2025-01-31", "to": "2025-01-31"}, ["c"]),  # one day: a ended on 2025-01-30
        (
            {"prescriber": "", "pharmacy": "", "from": "", "to": "", "sort": ""},
            ["b", "f", "e", "c", "a", "d"],
        ),
    ],
)
def test_filters_only_narrow(params: dict[str, str], expected: list[str]):
    assert ids(params) == expected


def test_a_date_range_says_how_many_undated_records_it_hides():
    table = prescription_table(ROWS, {"from": "2025-01-01"})
    assert table.undated_hidden == 2  # d (no start) and f (no supply length, so no end)
    assert prescription_table(ROWS, {"from": "2025-01-01", "prescriber": "DR-B"}).undated_hidden == 1
    assert prescription_table(ROWS, {}).undated_hidden == 0


def test_the_choices_are_the_values_of_the_rows_with_counts_most_recent_prescriber_first():
    table = prescription_table(ROWS, {})
    by_name = {name: [(c.value, c.count) for c in choices] for name, _, choices, _ in table.selects}
    assert by_name["prescriber"] == [("DR-B", 2), ("DR-A", 2), ("(not recorded)", 1), ("DR-C", 1)]
    assert by_name["pharmacy"] == [("PH-3", 1), ("(not recorded)", 1), ("PH-1", 2), ("PH-2", 2)]
    assert by_name["drug"] == [("(unknown)", 1), ("alprazolam", 1), ("morphine", 1), ("oxycodone", 3)]
    assert by_name["status"] == [("insufficient_data", 1), ("not_opioid", 1), ("ok", 3), ("unrecognized", 1)]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"prescriber": "DR-Z"}, "Prescriber: that value is not one of this patient's prescriptions"),
        ({"pharmacy": '<script>alert("x")</script>'}, "Pharmacy: that value is not one of"),
        ({"drug": "oxy\x00codone"}, "Drug: the value contains control characters"),
        ({"status": "ok" * 200}, "Status: the value is too long"),
        ({"status": "deleted"}, "Status: that value is not one of"),
        ({"from": "31/01/2025"}, "From: use a real date written YYYY-MM-DD"),
        ({"to": "2025-02-30"}, "To: use a real date written YYYY-MM-DD"),
        ({"from": "2025-03-01", "to": "2025-01-01"}, "The date range ends before it starts"),
        ({"sort": "rx_id; DROP TABLE"}, "Order: choose newest first or oldest first"),
    ],
)
def test_an_unusable_filter_shows_every_prescription_with_a_message_that_never_repeats_the_value(
    params: dict[str, str], message: str
):
    table = prescription_table(ROWS, params)
    assert table.error is not None
    assert table.error.startswith(message)
    assert all(value not in table.error for value in params.values() if len(value) > 3)
    assert len(table.rows) == len(ROWS)  # nothing hidden by a filter the page cannot show as set
    assert not table.filters.active
