"""The program's data files: instruments checked on load (a wrong point value cannot slip in), modules with
both texts and a digest that changes with them, and rules that name only what exists."""

from __future__ import annotations

import dataclasses
import json
from importlib import resources
from pathlib import Path

import pytest

from taperwise.errors import KnowledgeError
from taperwise.knowledge.conditions import condition_names
from taperwise.knowledge.instruments import (
    _read_instrument,
    instrument_by_id,
    load_instruments,
    load_program_sources,
)
from taperwise.knowledge.program import load_modules, load_selection_rules, load_templates, module_by_id

DATA = resources.files("taperwise.knowledge") / "data" / "program"


def test_the_eight_instruments_load_in_index_order() -> None:
    assert [i.id for i in load_instruments()] == [
        "peg",
        "phq9",
        "gad7",
        "ort",
        "readiness",
        "bfq",
        "cows",
        "sows",
    ]


def test_only_instruments_free_to_use_carry_their_published_wording() -> None:
    published = {i.id for i in load_instruments() if i.wording == "published"}
    assert published == {"phq9", "gad7"}
    sources = load_program_sources()
    for instrument_id in published:
        licence = sources[instrument_by_id(instrument_id).licence_source_id or ""]["citation"]
        assert "no permission is required" in licence


def test_our_barriers_questionnaire_says_it_is_not_validated() -> None:
    bfq = instrument_by_id("bfq")
    assert not bfq.validated
    assert "NOT a validated instrument" in load_program_sources()[bfq.source_id]["citation"]


def _edited(tmp_path: Path, name: str, change: object) -> Path:
    raw = json.loads((DATA / "instruments" / f"{name}.json").read_text(encoding="utf-8"))
    change(raw)  # type: ignore[operator]
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    return path


def _load(path: Path) -> None:
    _read_instrument(path, "1", ("assessment",), load_program_sources())


def test_a_mistyped_point_value_is_caught_by_the_range_check(tmp_path: Path) -> None:
    def typo(raw: dict) -> None:  # type: ignore[type-arg]
        raw["items"][2]["choices"][3][0] = 6  # restlessness 5 → 6: the total could reach 49

    with pytest.raises(KnowledgeError, match="declared range 0–48, but the items give 0–49"):
        _load(_edited(tmp_path, "cows", typo))


def test_bands_must_start_at_the_minimum(tmp_path: Path) -> None:
    def gap(raw: dict) -> None:  # type: ignore[type-arg]
        raw["scores"][0]["bands"][0]["from"] = 1

    with pytest.raises(KnowledgeError, match="bands must start at the minimum"):
        _load(_edited(tmp_path, "phq9", gap))


def test_an_alert_may_name_only_items_and_scores(tmp_path: Path) -> None:
    def unknown(raw: dict) -> None:  # type: ignore[type-arg]
        raw["alerts"][0]["when"] = "phq9_10 >= 1"

    with pytest.raises(KnowledgeError, match="unknown item or score 'phq9_10'"):
        _load(_edited(tmp_path, "phq9", unknown))


def test_published_wording_without_a_licence_is_refused(tmp_path: Path) -> None:
    def no_licence(raw: dict) -> None:  # type: ignore[type-arg]
        raw.pop("licence_source_id")

    with pytest.raises(KnowledgeError, match="needs a licence_source_id"):
        _load(_edited(tmp_path, "gad7", no_licence))


def test_an_item_id_redcap_cannot_take_is_refused(tmp_path: Path) -> None:
    def upper(raw: dict) -> None:  # type: ignore[type-arg]
        raw["items"][0]["id"] = "PEG Pain"

    with pytest.raises(KnowledgeError, match="must be lowercase letters"):
        _load(_edited(tmp_path, "peg", upper))


def test_every_module_has_a_patient_handout_and_a_clinician_script_with_sources() -> None:
    sources = load_program_sources()
    for module in load_modules():
        for audience in ("patient", "clinician"):
            text = module.text(audience)
            assert text.startswith("# "), (module.id, audience)
            assert len(text.split()) > 120, (module.id, audience)
        assert all(source in sources for source in module.source_ids)


def test_a_module_digest_changes_with_its_text() -> None:
    module = module_by_id("withdrawal-flare")
    edited = dataclasses.replace(module, patient_text=module.patient_text + "\nOne more line.")
    assert module.digest != edited.digest
    assert len(module.digest) == 64


def test_every_module_is_core_or_recommended_by_some_rule() -> None:
    recommended = {rule.module_id for rule in load_selection_rules()}
    assert all(module.core or module.id in recommended for module in load_modules())


def test_every_barrier_domain_has_a_rule() -> None:
    used = {name for rule in load_selection_rules() for name in condition_names(rule.expression)}
    assert {score.id for score in instrument_by_id("bfq").scores} <= used


def test_every_template_module_exists_and_every_template_names_its_source() -> None:
    sources = load_program_sources()
    for template in load_templates():
        assert template.source_id in sources
        for session in template.sessions:
            assert all(module_by_id(module_id) for module_id in session.module_ids)


def test_a_rule_naming_an_unknown_score_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "selection.csv"
    path.write_text("rule_id,when,module_id,reason,source_id\nx,phq10_total >= 3,sleep-mood,r,kroenke-2001\n")
    with pytest.raises(KnowledgeError, match="unknown item or score 'phq10_total'"):
        load_selection_rules(path)


def test_a_rule_naming_an_unknown_module_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "selection.csv"
    path.write_text("rule_id,when,module_id,reason,source_id\nx,phq9_total >= 3,yoga,r,kroenke-2001\n")
    with pytest.raises(KnowledgeError, match="unknown module 'yoga'"):
        load_selection_rules(path)
