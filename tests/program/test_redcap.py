"""The REDCap data dictionary: REDCap's upload rules hold, and its calculated fields give the same scores
as the app — blank where the app says unknown — so a study's REDCap and the clinic never disagree."""

from __future__ import annotations

import csv
import io
import re
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taperwise.knowledge.instruments import Instrument, instrument_by_id, load_instruments
from taperwise.program.redcap import COLUMNS, check_data_dictionary, data_dictionary, data_dictionary_csv
from taperwise.program.scoring import score_instrument


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_the_dictionary_passes_redcaps_upload_rules() -> None:
    text = data_dictionary_csv()
    assert check_data_dictionary(text) == []
    assert text.splitlines()[0].split(",")[0] == "Variable / Field Name"
    rows = _rows(text)
    assert rows[0]["Variable / Field Name"] == "record_id"
    assert {row["Form Name"] for row in rows} == {instrument.id for instrument in load_instruments()}


def test_every_item_and_score_has_a_field_with_the_same_name_and_codes() -> None:
    by_name = {row["Variable / Field Name"]: row for row in data_dictionary()}
    for instrument in load_instruments():
        for item in instrument.items:
            row = by_name[item.id]
            if item.kind == "text":
                assert row["Field Type"] == "notes"
                continue
            assert row["Field Type"] == "radio"
            codes = [
                int(option.split(",")[0])
                for option in row["Choices, Calculations, OR Slider Labels"].split("|")
            ]
            assert codes == [choice.value for choice in item.choices]
        for rule in instrument.scores:
            assert by_name[rule.id]["Field Type"] == "calc"


def test_the_past_attempt_items_branch_on_having_tried() -> None:
    by_name = {row["Variable / Field Name"]: row for row in data_dictionary()}
    assert by_name["bfq_tried_setback"]["Branching Logic (Show field only if...)"] == "[bfq_tried] = '1'"


def test_phq9_item_9_shows_the_safety_alert_in_the_form() -> None:
    by_name = {row["Variable / Field Name"]: row for row in data_dictionary()}
    alert = by_name["phq9_item9_alert"]
    assert alert["Field Type"] == "descriptive"
    assert alert["Branching Logic (Show field only if...)"] == "[phq9_9] >= 1"
    assert "today" in alert["Field Label"]


def test_a_subset_of_instruments_still_starts_with_the_record_id() -> None:
    text = data_dictionary_csv([instrument_by_id("phq9")])
    assert check_data_dictionary(text) == []
    assert _rows(text)[0]["Form Name"] == "phq9"


def _with(rows: list[dict[str, str]], index: int, **changes: str) -> str:
    names = {"name": "Variable / Field Name", "form": "Form Name", "type": "Field Type",
             "choices": "Choices, Calculations, OR Slider Labels",
             "branching": "Branching Logic (Show field only if...)",
             "label": "Field Label"}  # fmt: skip
    changed = [dict(row) for row in rows]
    for key, value in changes.items():
        changed[index][names[key]] = value
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(changed)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("index", "changes", "problem"),
    [
        (0, {"name": "id"}, "first field must be the record id"),
        (3, {"name": "PEG_Pain"}, "must be lowercase"),
        (3, {"name": "peg_about"}, "appears twice"),
        (3, {"type": "likert"}, "not one of REDCap's"),
        (3, {"choices": "0, none | 0, again"}, "codes unique"),
        (3, {"choices": "none | some"}, "'code, label'"),
        (3, {"label": " "}, "needs a label"),
        (5, {"choices": "if([peg_nothing] = '', '', 1)"}, "refers to 'peg_nothing'"),
        (5, {"choices": "round(([peg_pain]+1)/3"}, "parentheses"),
        (4, {"branching": "[later_field] = '1'"}, "branching refers to 'later_field'"),
        (2, {"form": "PEG form"}, "form name"),
    ],
)
def test_the_checker_finds_what_redcap_would_refuse(
    index: int, changes: dict[str, str], problem: str
) -> None:
    rows = _rows(data_dictionary_csv())
    found = check_data_dictionary(_with(rows, index, **changes))
    assert any(problem in line for line in found), found


def test_the_checker_refuses_a_form_split_in_two() -> None:
    rows = _rows(data_dictionary_csv())
    moved = rows[:2] + rows[8:9] + rows[2:8] + rows[9:]
    assert any("must be together" in line for line in check_data_dictionary(_with(moved, 0)))


def test_the_checker_refuses_a_wrong_header() -> None:
    assert check_data_dictionary("name,form\nrecord_id,peg\n") == [
        "the header must be REDCap's 18 columns in order"
    ]


# --- REDCap's equations, evaluated as REDCap would, against the app's scoring ---------------------------


class _Blank:
    """An empty REDCap field inside arithmetic: whatever it touches stays blank."""

    def _same(self, *_: object) -> _Blank:
        return self

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _same


_REFERENCE_PATTERN = re.compile(r"\[([a-z][a-z0-9_]*)\]")


def _redcap(equation: str, record: dict[str, str]) -> str:
    """Evaluate the part of REDCap's calculation syntax the dictionary uses, on a record of text values."""
    python = re.sub(
        r"isblankormissingcode\(\[([a-z0-9_]+)\]\)",
        lambda m: repr(record.get(m.group(1), "") == ""),
        equation,
    )
    python = _REFERENCE_PATTERN.sub(lambda m: record.get(m.group(1)) or "_blank", python)
    python = re.sub(r"(?<![<>!=])=(?!=)", "==", python)
    python = re.sub(r"'(\d+)'", r"\1", python).replace(" or ", " or ").replace("if(", "_if(")
    namespace = {
        "_blank": _Blank(),
        "_if": lambda condition, yes, no: yes if condition else no,
        "round": lambda v, places: (
            v
            if isinstance(v, _Blank)
            else Decimal(str(v)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        ),
    }
    result = eval(python, {"__builtins__": {}}, namespace)
    return "" if result == "" or isinstance(result, _Blank) else str(result)


def _answers(instrument: Instrument) -> st.SearchStrategy[dict[str, str]]:
    return st.fixed_dictionaries(
        {
            item.id: st.one_of(st.just(""), st.sampled_from([str(c.value) for c in item.choices]))
            for item in instrument.items
            if item.kind == "choice"
        }
    )


@pytest.mark.parametrize("instrument", load_instruments(), ids=lambda i: i.id)
@given(data=st.data())
def test_redcap_calculations_agree_with_the_app(instrument: Instrument, data: st.DataObject) -> None:
    record = data.draw(_answers(instrument))
    equations = {row["Variable / Field Name"]: row["Choices, Calculations, OR Slider Labels"]
                 for row in data_dictionary([instrument]) if row["Field Type"] == "calc"}  # fmt: skip
    result = score_instrument(instrument, {key: value for key, value in record.items() if value != ""})
    shown = {name for name in record if _shown(instrument, name, record)}
    for score in result.scores:
        theirs = _redcap(equations[score.score_id], {k: (v if k in shown else "") for k, v in record.items()})
        ours = "" if score.value is None else str(score.value)
        assert theirs == ours, (score.score_id, record)


def _shown(instrument: Instrument, name: str, record: dict[str, str]) -> bool:
    gate = instrument.item(name).show_if
    return gate is None or record.get(gate.item_id) == str(gate.equals)
