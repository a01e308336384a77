"""The instruments as a REDCap data dictionary, so a research team collects exactly what the app scores.

One REDCap instrument (form) per taperwise instrument, one field per item with the same variable name,
answer codes equal to the item values, and a calculated field per score whose equation is blank — not 0
— unless every item it needs was answered, as in `taperwise.program.scoring`. Branching logic carries the
items that are asked only after an answer (past attempts), and PHQ-9 item 9 shows the safety alert
in the form when it is answered above 0. The first field is `record_id`, as REDCap requires.

`check_data_dictionary` applies REDCap's own upload rules to the rows (the 18 columns in order, variable
names, field types, choice lists, the variables that equations and branching refer to), so a dictionary
REDCap would refuse fails our tests first.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence

from taperwise.knowledge.instruments import (
    Instrument,
    Item,
    ScoreRule,
    load_instruments,
    load_program_sources,
)

COLUMNS = (
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
)
FIELD_TYPES = (
    "text", "notes", "dropdown", "radio", "checkbox", "calc", "file", "yesno", "truefalse", "descriptive",
    "slider", "sql",
)  # fmt: skip
ALIGNMENTS = ("", "LV", "LH", "RV", "RH")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_REFERENCE = re.compile(r"\[([a-z][a-z0-9_]*)\]")
_CHOICE = re.compile(r"^-?\d+, .+$")
RECORD_ID = "record_id"


def data_dictionary(instruments: Sequence[Instrument] | None = None) -> list[dict[str, str]]:
    """Rows of the data dictionary, one per field, in REDCap's column order."""
    chosen = list(instruments) if instruments is not None else list(load_instruments())
    rows = [_row(RECORD_ID, chosen[0].id, field_type="text", label="Record ID")]
    sources = load_program_sources()
    for instrument in chosen:
        rows.extend(_instrument_rows(instrument, sources[instrument.source_id]["citation"]))
    return rows


def data_dictionary_csv(instruments: Sequence[Instrument] | None = None) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(data_dictionary(instruments))
    return buffer.getvalue()


def _row(name: str, form: str, **values: str) -> dict[str, str]:
    keys = {
        "section": "Section Header", "field_type": "Field Type", "label": "Field Label",
        "choices": "Choices, Calculations, OR Slider Labels", "note": "Field Note",
        "branching": "Branching Logic (Show field only if...)", "required": "Required Field?",
        "alignment": "Custom Alignment", "annotation": "Field Annotation",
    }  # fmt: skip
    row = dict.fromkeys(COLUMNS, "")
    row["Variable / Field Name"] = name
    row["Form Name"] = form
    for key, value in values.items():
        row[keys[key]] = value
    return row


def _instrument_rows(instrument: Instrument, citation: str) -> Iterable[dict[str, str]]:
    wording = "published wording" if instrument.wording == "published" else "wording written for taperwise"
    about = f"{instrument.title}. {instrument.instructions}"
    yield _row(
        f"{instrument.id}_about",
        instrument.id,
        field_type="descriptive",
        label=about,
        note=f"Source: {citation} ({wording}; taperwise instrument version {instrument.version})",
    )
    for item in instrument.items:
        yield _item_row(instrument, item)
        for alert in instrument.alerts:
            if alert.when.split()[0] == item.id:
                yield _row(
                    f"{alert.id.replace('-', '_')}_alert",
                    instrument.id,
                    field_type="descriptive",
                    label=f"{alert.title}. " + " ".join(alert.do_now),
                    branching=_redcap_condition(alert.when),
                )
    for rule in instrument.scores:
        yield _row(
            rule.id,
            instrument.id,
            field_type="calc",
            label=rule.label,
            choices=_equation(rule, instrument),
            note="Blank when an item it needs is unanswered: unknown, not 0."
            + (f" Bands: {_bands(rule)}." if rule.bands else ""),
            annotation="@READONLY",
        )


def _item_row(instrument: Instrument, item: Item) -> dict[str, str]:
    branching = f"[{item.show_if.item_id}] = '{item.show_if.equals}'" if item.show_if else ""
    if item.kind == "text":
        section = item.section or ""
        return _row(
            item.id, instrument.id, section=section, field_type="notes", label=item.text, branching=branching
        )
    choices = " | ".join(f"{choice.value}, {choice.label}" for choice in item.choices)
    return _row(
        item.id,
        instrument.id,
        section=item.section or "",
        field_type="radio",
        label=item.text,
        choices=choices,
        branching=branching,
        required="y" if item.required else "",
        alignment="LH" if len(item.choices) > 5 else "",
    )


def _equation(rule: ScoreRule, instrument: Instrument) -> str:
    needed = [*rule.item_ids]
    if rule.weights_by is not None:
        needed.insert(0, rule.weights_by.item_id)
    blank = " or ".join(f"isblankormissingcode([{item_id}])" for item_id in needed)
    if rule.weights_by is not None:
        formula = '""'
        for value, column in reversed(list(rule.weights_by.columns.items())):
            terms = "+".join(f"{(instrument.item(i).weights or {})[column]}*[{i}]" for i in rule.item_ids)
            formula = f"if([{rule.weights_by.item_id}] = '{value}', {terms}, {formula})"
    else:
        terms = "+".join(_term(instrument.item(item_id), rule) for item_id in rule.item_ids)
        formula = (
            f"round(({terms})/{len(rule.item_ids)}, {rule.decimals})" if rule.method == "mean" else terms
        )
    return f'if({blank}, "", {formula})'


def _term(item: Item, rule: ScoreRule) -> str:
    if item.id in rule.reverse:
        return f"({item.choices[0].value + item.choices[-1].value}-[{item.id}])"
    return f"[{item.id}]"


def _bands(rule: ScoreRule) -> str:
    return "; ".join(f"from {band.start} {band.label}" for band in rule.bands)


def _redcap_condition(condition: str) -> str:
    name, operator, value = condition.split()
    return f"[{name}] {operator} {value}"


def check_data_dictionary(text: str) -> list[str]:
    """Problems REDCap would refuse the upload for; an empty list when there are none."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if tuple(reader.fieldnames or ()) != COLUMNS:
        return [f"the header must be REDCap's {len(COLUMNS)} columns in order"]
    problems: list[str] = []
    rows = list(reader)
    names = [row["Variable / Field Name"] for row in rows]
    if not names or names[0] != RECORD_ID:
        problems.append(f"the first field must be the record id ({RECORD_ID})")
    seen: set[str] = set()
    forms_done: set[str] = set()
    current_form = None
    for number, row in enumerate(rows, start=2):
        problems.extend(f"line {number}: {problem}" for problem in _row_problems(row, seen))
        form = row["Form Name"]
        if form != current_form:
            if form in forms_done:
                problems.append(f"line {number}: the fields of form {form!r} must be together")
            if current_form is not None:
                forms_done.add(current_form)
            current_form = form
        seen.add(row["Variable / Field Name"])
    return problems


def _row_problems(row: dict[str, str], seen: set[str]) -> list[str]:
    problems = []
    name, field_type = row["Variable / Field Name"], row["Field Type"]
    if not _NAME.match(name) or len(name) > 100:
        problems.append(f"variable name {name!r} must be lowercase letters, digits and _, a letter first")
    if len(name) > 26:
        problems.append(f"variable name {name!r} is longer than REDCap's recommended 26 characters")
    if name in seen:
        problems.append(f"variable {name!r} appears twice")
    if not _NAME.match(row["Form Name"]):
        problems.append(f"form name {row['Form Name']!r} must be lowercase letters, digits and _")
    if field_type not in FIELD_TYPES:
        problems.append(f"field type {field_type!r} is not one of REDCap's")
    if not row["Field Label"].strip():
        problems.append("a field needs a label")
    choices = row["Choices, Calculations, OR Slider Labels"]
    if field_type in ("radio", "dropdown", "checkbox"):
        options = [option.strip() for option in choices.split("|")]
        codes = [option.split(",", 1)[0] for option in options]
        if not all(_CHOICE.match(option) for option in options) or len(set(codes)) != len(codes):
            problems.append(f"choices {choices[:60]!r} must be 'code, label' separated by '|', codes unique")
    if field_type == "calc":
        if choices.count("(") != choices.count(")") or not choices:
            problems.append("the equation's parentheses do not balance")
        undefined = [ref for ref in _REFERENCE.findall(choices) if ref not in seen]
        problems.extend(f"the equation refers to {ref!r}, not defined before it" for ref in undefined)
    branching = row["Branching Logic (Show field only if...)"]
    undefined = [ref for ref in _REFERENCE.findall(branching) if ref not in seen]
    problems.extend(f"branching refers to {ref!r}, not defined before it" for ref in undefined)
    if row["Required Field?"] not in ("", "y"):
        problems.append("Required Field? must be y or blank")
    if row["Custom Alignment"] not in ALIGNMENTS:
        problems.append(f"alignment {row['Custom Alignment']!r} must be one of LV, LH, RV, RH")
    return problems
