"""`taperwise program`: the REDCap dictionary, scoring a REDCap export, and hostile answer files."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taperwise.cli import app
from taperwise.program.redcap import check_data_dictionary

runner = CliRunner()
PHQ9 = [f"phq9_{n}" for n in range(1, 10)]


def _scores(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_redcap_dictionary_is_written_and_redcap_would_take_it(tmp_path: Path) -> None:
    out = tmp_path / "dictionary.csv"
    result = runner.invoke(app, ["program", "redcap-dictionary", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert check_data_dictionary(out.read_text(encoding="utf-8")) == []
    assert "fields" in result.output


def test_the_dictionary_can_hold_chosen_instruments_only(tmp_path: Path) -> None:
    out = tmp_path / "dictionary.csv"
    result = runner.invoke(
        app, ["program", "redcap-dictionary", "--instrument", "peg", "--instrument", "cows", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    forms = {row["Form Name"] for row in csv.DictReader(out.open(encoding="utf-8"))}
    assert forms == {"peg", "cows"}


def test_an_unknown_instrument_is_a_one_line_error(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["program", "redcap-dictionary", "--instrument", "phq10", "-o", str(tmp_path / "d.csv")]
    )
    assert result.exit_code == 2
    assert "unknown instrument 'phq10'" in result.output
    assert "Traceback" not in result.output


def test_a_redcap_export_is_scored_row_by_row_and_a_bad_answer_spares_the_rest(tmp_path: Path) -> None:
    answers = tmp_path / "export.csv"
    answers.write_text(
        "record_id,redcap_event_name," + ",".join(PHQ9) + ",phq9_total,phq9_complete,age\n"
        "1,baseline_arm_1," + ",".join(["1"] * 9) + ",9,2,44\n"
        "2,baseline_arm_1," + ",".join(["3"] * 8) + ",,,0,51\n"
        "3,baseline_arm_1," + ",".join(["0"] * 8) + ",7,,0,60\n"
        "4,baseline_arm_1," + ",".join(["0"] * 9) + ",3,2,38\n",
        encoding="utf-8",
    )
    out = tmp_path / "scores.csv"
    result = runner.invoke(app, ["program", "score", str(answers), "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = {row["record_id"]: row for row in _scores(out)}
    assert (rows["1"]["value"], rows["1"]["status"], rows["1"]["band"]) == ("9", "scored", "mild")
    assert "PHQ-9 item 9" in rows["1"]["alerts"]
    assert (rows["2"]["value"], rows["2"]["status"], rows["2"]["reason"]) == (
        "",
        "unknown",
        "not answered: phq9_9",
    )
    assert rows["2"]["alerts"].startswith("not checked (phq9_9 blank)")
    assert rows["3"]["status"] == "error"
    assert "phq9_9: '7' is not one of the answers" in rows["3"]["reason"]
    assert rows["4"]["value"] == "0"
    assert "line 4 (record 3): phq9_9: '7'" in result.output
    assert "the file's phq9_total is 3, taperwise scores 0" in result.output
    assert "ignored columns (not items of any instrument): age" in result.output


def test_a_formula_in_a_record_id_is_written_as_text(tmp_path: Path) -> None:
    answers = tmp_path / "export.csv"
    answers.write_text(
        "record_id,peg_pain,peg_enjoyment,peg_activity\n=HYPERLINK(1),1,2,3\n", encoding="utf-8"
    )
    out = tmp_path / "scores.csv"
    assert runner.invoke(app, ["program", "score", str(answers), "-o", str(out)]).exit_code == 0
    assert _scores(out)[0]["record_id"] == "'=HYPERLINK(1)"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"id,phq9_1\n1,2\n", "has no record_id column"),
        (b"record_id,age\n1,44\n", "no column is an item of any instrument"),
        (b"record_id,phq9_1,phq9_1\n1,2,2\n", "phq9_1 appear more than once"),
        (b"record_id,phq9_1\n1,\xff\xfe\n", "not UTF-8 text (line 2"),
        (b"record_id,phq9_1\n1,2,3\n", "line 2: 3 values for 2 columns"),
        (b"record_id,phq9_1\n\x00\x00\n", "NUL bytes"),
    ],
)
def test_a_file_that_cannot_be_scored_is_a_one_line_error(
    tmp_path: Path, content: bytes, message: str
) -> None:
    answers = tmp_path / "export.csv"
    answers.write_bytes(content)
    result = runner.invoke(app, ["program", "score", str(answers), "-o", str(tmp_path / "scores.csv")])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "scores.csv").exists()


def test_scoring_refuses_to_write_over_its_input(tmp_path: Path) -> None:
    answers = tmp_path / "export.csv"
    answers.write_text("record_id,peg_pain\n1,2\n", encoding="utf-8")
    result = runner.invoke(app, ["program", "score", str(answers), "-o", str(answers)])
    assert result.exit_code == 2
    assert answers.read_text(encoding="utf-8").startswith("record_id,peg_pain")


def test_instruments_and_modules_are_listed() -> None:
    listed = runner.invoke(app, ["program", "instruments"])
    assert listed.exit_code == 0
    assert "phq9 v1" in listed.output
    assert "published wording" in listed.output
    modules = runner.invoke(app, ["program", "modules"])
    assert modules.exit_code == 0
    assert "template iwotch" in modules.output
    assert "withdrawal-flare" in modules.output
