"""Assessment → modules: one test per rule of selection.csv (a rule without a case here fails the suite),
the clinician's choice with its reasons, and the session plan of each template."""

from __future__ import annotations

from decimal import Decimal

import pytest

from taperwise.errors import RequestValidationError
from taperwise.knowledge.instruments import instrument_by_id
from taperwise.knowledge.program import load_selection_rules, load_templates, template_by_id
from taperwise.program.scoring import score_instrument
from taperwise.program.selection import (
    AssessmentValues,
    assessment_values,
    choose_modules,
    recommend,
    session_plan,
)

# rule id → (values at which it fires, values just short of it)
RULE_CASES: dict[str, tuple[dict[str, object], dict[str, object]]] = {
    "core-harms": ({}, {}),
    "core-decision": ({}, {}),
    "core-withdrawal": ({}, {}),
    "pain-relief-explain": ({"bfq_pain_relief": Decimal("2.5")}, {"bfq_pain_relief": Decimal("2.4")}),
    "pain-relief-expect": ({"bfq_pain_relief": Decimal("3.0")}, {"bfq_pain_relief": Decimal("1.0")}),
    "peg-high": ({"peg_score": Decimal("7.0")}, {"peg_score": Decimal("6.9")}),
    "emotional-mood": ({"bfq_emotional": Decimal("2.5")}, {"bfq_emotional": Decimal("2.0")}),
    "emotional-void": ({"bfq_emotional": Decimal("4.0")}, {"bfq_emotional": Decimal("0.0")}),
    "depression": ({"phq9_total": 10}, {"phq9_total": 9}),
    "anxiety-mood": ({"gad7_total": 10}, {"gad7_total": 9}),
    "anxiety-skills": ({"gad7_total": 15}, {"gad7_total": 4}),
    "addiction-beliefs": ({"bfq_addiction_beliefs": Decimal("2.5")},
                          {"bfq_addiction_beliefs": Decimal("2.4")}),
    "withdrawal-fear": ({"bfq_withdrawal_fear": Decimal("3.5")}, {"bfq_withdrawal_fear": Decimal("2.0")}),
    "withdrawal-expect": ({"bfq_withdrawal_fear": Decimal("2.5")}, {"bfq_withdrawal_fear": Decimal("2.4")}),
    "motivation-low": ({"bfq_motivation": Decimal("1.0"), "readiness_importance": 3},
                       {"bfq_motivation": Decimal("1.0"), "readiness_importance": 4}),
    "confidence-low": ({"bfq_self_efficacy": Decimal("2.5"), "readiness_confidence": 8},
                       {"bfq_self_efficacy": Decimal("2.0"), "readiness_confidence": 4}),
    "support-low": ({"bfq_social_support": Decimal("2.7")}, {"bfq_social_support": Decimal("2.3")}),
    "past-setback": ({"bfq_past_attempts": Decimal("2.5")}, {"bfq_past_attempts": Decimal("2.0")}),
    "past-setback-plan": ({"bfq_past_attempts": Decimal("4.0")}, {"bfq_past_attempts": Decimal("1.5")}),
    "ort-high": ({"ort_total": 8}, {"ort_total": 7}),
    "cows-moderate": ({"cows_total": 13}, {"cows_total": 12}),
}  # fmt: skip


def test_every_rule_has_a_case() -> None:
    assert sorted(rule.rule_id for rule in load_selection_rules()) == sorted(RULE_CASES)


@pytest.mark.parametrize("rule", load_selection_rules(), ids=lambda rule: rule.rule_id)
def test_each_rule_fires_at_its_threshold_and_not_below(rule: object) -> None:
    from taperwise.knowledge.program import SelectionRule

    assert isinstance(rule, SelectionRule)
    fires, short = RULE_CASES[rule.rule_id]
    fired = recommend(fires)  # type: ignore[arg-type]
    reasons = {r.rule_id for m in fired.modules for r in m.reasons}
    assert rule.rule_id in reasons
    assert rule.module_id in fired.module_ids
    if rule.when != "true":
        quiet = recommend(short)  # type: ignore[arg-type]
        assert rule.rule_id not in {r.rule_id for m in quiet.modules for r in m.reasons}
        assert rule.rule_id not in {u.rule_id for u in quiet.unchecked}


def test_with_no_assessment_only_the_core_modules_are_recommended_and_every_other_rule_is_unchecked() -> None:
    result = recommend({})
    assert result.module_ids == ("harms-dependence", "withdrawal-flare", "shared-decision")
    assert {u.rule_id for u in result.unchecked} == set(RULE_CASES) - {
        "core-harms",
        "core-decision",
        "core-withdrawal",
    }


def test_a_module_lists_every_reason_that_recommended_it() -> None:
    result = recommend({"phq9_total": 12, "gad7_total": 11, "bfq_emotional": Decimal("3.0")})
    sleep = next(entry for entry in result.modules if entry.module.id == "sleep-mood")
    assert [reason.rule_id for reason in sleep.reasons] == ["emotional-mood", "depression", "anxiety-mood"]


def test_an_or_rule_with_one_side_true_fires_though_the_other_is_unknown() -> None:
    result = recommend({"readiness_importance": 2})
    assert "motivation-low" in {r.rule_id for m in result.modules for r in m.reasons}


def test_a_score_that_does_not_apply_neither_fires_nor_is_listed_as_unchecked() -> None:
    bfq = score_instrument(instrument_by_id("bfq"), {"bfq_tried": 0})
    values = assessment_values([bfq])
    assert "bfq_past_attempts" in values.not_applicable
    result = recommend(values)
    assert not {"past-setback", "past-setback-plan"} & {u.rule_id for u in result.unchecked}
    assert "relapse-prevention" not in result.module_ids


def test_scored_instruments_feed_the_rules() -> None:
    phq9 = score_instrument(instrument_by_id("phq9"), {f"phq9_{n}": 2 for n in range(1, 10)})
    values = assessment_values([phq9])
    assert values.values["phq9_total"] == 18
    assert values.values["phq9_9"] == 2
    assert "sleep-mood" in recommend(values).module_ids


def test_leaving_out_a_recommended_module_needs_a_reason_and_is_kept() -> None:
    recommendation = recommend(AssessmentValues({"phq9_total": 12}))
    included = [m for m in recommendation.module_ids if m != "sleep-mood"]
    with pytest.raises(RequestValidationError, match=r"modules\.sleep-mood"):
        choose_modules(recommendation, included)
    choice = choose_modules(recommendation, [*included, "cbt-skills"], {"sleep-mood": "seen by psychiatry"})
    assert [(d.module_id, d.change, d.reason) for d in choice.deviations] == [
        ("sleep-mood", "left out", "seen by psychiatry"),
        ("cbt-skills", "added", ""),
    ]
    assert choice.module_ids == ("harms-dependence", "cbt-skills", "withdrawal-flare", "shared-decision")


def test_an_unknown_module_is_refused() -> None:
    with pytest.raises(Exception, match="unknown module 'yoga'"):
        choose_modules(recommend({}), ["yoga"])


def test_the_ioc_plan_places_recommended_modules_in_its_open_slots_in_order() -> None:
    chosen = ["harms-dependence", "understanding-pain", "expectations", "cbt-skills", "sleep-mood",
              "withdrawal-flare", "filling-the-void", "relapse-prevention", "shared-decision"]  # fmt: skip
    plan = session_plan(template_by_id("ioc"), chosen)
    assert [s.individualised for s in plan.sessions] == [
        (),
        ("understanding-pain",),
        ("expectations", "cbt-skills"),
        ("sleep-mood", "filling-the-void"),
        (),
    ]
    assert plan.sessions[4].module_ids == ("relapse-prevention",)
    assert plan.not_placed == ()


def test_modules_without_a_slot_are_named() -> None:
    plan = session_plan(
        template_by_id("pain-skills-single"), ["expectations", "sleep-mood", "filling-the-void"]
    )
    assert plan.sessions[0].module_ids == ("understanding-pain", "cbt-skills", "expectations")
    assert plan.not_placed == ("sleep-mood", "filling-the-void")


def test_a_template_module_the_clinician_leaves_out_is_recorded() -> None:
    plan = session_plan(template_by_id("inspire-mi-cbt"), [], excluded={"filling-the-void"})
    assert plan.left_out_of_template == ("filling-the-void",)
    assert plan.sessions[7].module_ids == ()


@pytest.mark.parametrize("template", load_templates(), ids=lambda t: t.id)
def test_every_template_has_sessions_in_order_with_a_source(template: object) -> None:
    from taperwise.knowledge.program import ProgramTemplate

    assert isinstance(template, ProgramTemplate)
    plan = session_plan(template, [])
    assert [s.number for s in plan.sessions] == list(range(1, len(template.sessions) + 1))
    assert template.source_id
    assert template.structure_source


def test_the_inspire_mi_cbt_template_is_one_visit_then_eight_groups() -> None:
    sessions = template_by_id("inspire-mi-cbt").sessions
    assert [s.format for s in sessions] == ["individual"] + ["group"] * 8
