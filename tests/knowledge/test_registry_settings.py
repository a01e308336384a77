"""Registry thresholds and priority rules are data with sources, and rules cannot run arbitrary code."""

from __future__ import annotations

from pathlib import Path

import pytest

from taperwise.errors import KnowledgeError
from taperwise.knowledge.registry import load_priority_rules, load_registry_settings, parse_rule


def test_default_settings_match_clinical_rules_section_3():
    settings = load_registry_settings()
    assert settings.ltot_definition == "60-of-90"
    assert (settings.ltot_min_days, settings.ltot_window_days) == (60, 90)
    assert settings.high_dose_thresholds == (50, 90)
    assert (settings.min_prescribers, settings.min_pharmacies, settings.provider_window_days) == (4, 4, 180)
    assert settings.lookback_days == 180
    assert settings.recent_days == 90


def test_unknown_ltot_definition_is_refused_naming_the_known_ones():
    with pytest.raises(KnowledgeError, match="known: 60-of-90, 90-of-180"):
        load_registry_settings().with_ltot("30-of-30")


def test_priority_rules_are_ordered_and_end_with_a_catch_all():
    rules = load_priority_rules()
    assert [r.rank for r in rules] == sorted(r.rank for r in rules)
    assert rules[0].rule_id == "P-OVERDOSE"
    assert rules[-1].rule_id == "P-ANY"
    assert rules[-1].when == "true"  # every listed patient gets a priority


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os').system('x')", "uses Call"),
        ("high_dose_90 and patient_name == 'x'", "unknown column 'patient_name'"),
        ("ltot and 'yes'", "not a number or boolean"),
        ("avg_daily_mme_90d >=", "cannot read rule"),
        ("[ltot]", "uses List"),
    ],
    ids=["call", "unknown-column", "string-constant", "syntax", "list"],
)
def test_rules_allow_only_registry_columns_numbers_and_logic(text: str, message: str):
    with pytest.raises(KnowledgeError, match=message):
        parse_rule(text, "test")


def test_a_programmes_own_rules_file_is_checked(tmp_path: Path):
    own = tmp_path / "rules.csv"
    own.write_text("rank,rule_id,when,reason,source_id\n1,R1,ltot,long-term,nowhere\n", encoding="utf-8")
    with pytest.raises(KnowledgeError, match=r"source 'nowhere' is not in sources\.csv"):
        load_priority_rules(own)
