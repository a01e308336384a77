"""Scoring by the published rules: band edges, the Opioid Risk Tool's weights by sex, the PEG mean, and
unknown kept apart from zero (clinical-rules §5)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taperwise.knowledge.instruments import Instrument, instrument_by_id, load_instruments
from taperwise.program.scoring import AnswerError, read_answers, score_instrument


def _all(instrument_id: str, value: int) -> dict[str, int | str]:
    instrument = instrument_by_id(instrument_id)
    return {item.id: value for item in instrument.items if item.scored}


def _with_total(instrument_id: str, total: int) -> dict[str, int | str]:
    """Answers whose points add up to `total`, filling items in order with their largest answers."""
    instrument = instrument_by_id(instrument_id)
    answers: dict[str, int | str] = {}
    left = total
    for item in instrument.items:
        if not item.scored:
            continue
        fitting = [choice.value for choice in item.choices if choice.value <= left]
        answers[item.id] = max(fitting)
        left -= answers[item.id]  # type: ignore[operator]
    assert left == 0, f"{total} cannot be made from {instrument_id}'s answers in order"
    return answers


@pytest.mark.parametrize(
    ("total", "band"),
    [(0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"), (14, "moderate"),
     (15, "moderately severe"), (19, "moderately severe"), (20, "severe"), (27, "severe")],
)  # fmt: skip
def test_phq9_bands_follow_kroenke_2001(total: int, band: str) -> None:
    result = score_instrument(instrument_by_id("phq9"), _with_total("phq9", total))
    assert result.score("phq9_total").value == total
    assert result.score("phq9_total").band == band


@pytest.mark.parametrize(
    ("total", "band"),
    [(0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"), (14, "moderate"),
     (15, "severe"), (21, "severe")],
)  # fmt: skip
def test_gad7_bands_follow_spitzer_2006(total: int, band: str) -> None:
    result = score_instrument(instrument_by_id("gad7"), _with_total("gad7", total))
    assert (result.score("gad7_total").value, result.score("gad7_total").band) == (total, band)


@pytest.mark.parametrize(
    ("total", "band"),
    [(4, "below the mild range"), (5, "mild"), (12, "mild"), (13, "moderate"), (24, "moderate"),
     (25, "moderately severe"), (36, "moderately severe"), (37, "severe"), (48, "severe")],
)  # fmt: skip
def test_cows_bands_follow_wesson_and_ling_2003(total: int, band: str) -> None:
    result = score_instrument(instrument_by_id("cows"), _with_total("cows", total))
    assert (result.score("cows_total").value, result.score("cows_total").band) == (total, band)


def test_cows_items_carry_the_published_point_values() -> None:
    points = {item.id: [c.value for c in item.choices] for item in instrument_by_id("cows").items}
    assert points == {
        "cows_pulse": [0, 1, 2, 4], "cows_sweating": [0, 1, 2, 3, 4], "cows_restlessness": [0, 1, 3, 5],
        "cows_pupils": [0, 1, 2, 5], "cows_aches": [0, 1, 2, 4], "cows_nose_eyes": [0, 1, 2, 4],
        "cows_gut": [0, 1, 2, 3, 5], "cows_tremor": [0, 1, 2, 4], "cows_yawning": [0, 1, 2, 4],
        "cows_anxiety": [0, 1, 2, 4], "cows_gooseflesh": [0, 3, 5],
    }  # fmt: skip


def test_sows_is_sixteen_items_of_zero_to_four_without_bands() -> None:
    sows = instrument_by_id("sows")
    assert len(sows.items) == 16
    assert all([c.value for c in i.choices] == [0, 1, 2, 3, 4] for i in sows.items)
    result = score_instrument(sows, _all("sows", 4))
    assert result.score("sows_total").value == 64
    assert result.score("sows_total").band is None


ORT_YES = ("ort_fam_alcohol", "ort_own_rx", "ort_age", "ort_depression")


@pytest.mark.parametrize(("sex", "total", "band"), [(1, 8, "high risk"), (2, 10, "high risk")])
def test_ort_weights_differ_by_sex(sex: int, total: int, band: str) -> None:
    # Female: family alcohol 1 + own prescription drugs 5 + age 16–45 1 + depression 1 = 8;
    # male: 3 + 5 + 1 + 1 = 10 (Webster & Webster 2005).
    answers: dict[str, int | str] = dict.fromkeys(_all("ort", 0), 0)
    answers.update(dict.fromkeys(ORT_YES, 1), ort_sex=sex)
    result = score_instrument(instrument_by_id("ort"), answers)
    assert (result.score("ort_total").value, result.score("ort_total").band) == (total, band)


def test_ort_abuse_history_weighs_three_for_women_and_nothing_for_men() -> None:
    answers: dict[str, int | str] = {**_all("ort", 0), "ort_abuse": 1}
    female = score_instrument(instrument_by_id("ort"), {**answers, "ort_sex": 1}).score("ort_total")
    male = score_instrument(instrument_by_id("ort"), {**answers, "ort_sex": 2}).score("ort_total")
    assert (female.value, female.band, male.value, male.band) == (3, "low risk", 0, "low risk")


def test_ort_without_sex_is_unknown_not_low_risk() -> None:
    result = score_instrument(instrument_by_id("ort"), _all("ort", 1))
    score = result.score("ort_total")
    assert score.status == "unknown"
    assert score.value is None
    assert score.band is None
    assert score.missing == ("ort_sex",)


@pytest.mark.parametrize(
    ("pain", "enjoyment", "activity", "peg"), [(7, 8, 6, "7.0"), (5, 6, 6, "5.7"), (0, 0, 1, "0.3")]
)
def test_peg_is_the_mean_of_its_three_items_to_one_decimal(
    pain: int, enjoyment: int, activity: int, peg: str
) -> None:
    answers: dict[str, int | str] = {"peg_pain": pain, "peg_enjoyment": enjoyment, "peg_activity": activity}
    assert score_instrument(instrument_by_id("peg"), answers).score("peg_score").value == Decimal(peg)


def test_an_unfinished_form_is_unknown_with_the_missing_items_never_a_low_score() -> None:
    answers = _all("phq9", 0)
    del answers["phq9_4"]
    result = score_instrument(instrument_by_id("phq9"), answers)
    score = result.score("phq9_total")
    assert (score.status, score.value, score.missing) == ("unknown", None, ("phq9_4",))
    assert score.reason == "not answered: phq9_4"
    assert result.unanswered == ("phq9_4",)
    assert not result.complete


def test_phq9_item_9_raises_the_alert_even_on_an_unfinished_form() -> None:
    result = score_instrument(instrument_by_id("phq9"), {"phq9_9": 1})
    assert [(a.alert_id, a.status, a.level) for a in result.alerts] == [("phq9-item9", "raised", "urgent")]
    assert any("today" in step for step in result.alerts[0].do_now)


def test_phq9_item_9_left_blank_is_reported_as_not_checked() -> None:
    answers = _all("phq9", 0)
    del answers["phq9_9"]
    (alert,) = score_instrument(instrument_by_id("phq9"), answers).alerts
    assert (alert.status, alert.missing) == ("not_checked", ("phq9_9",))


def test_phq9_item_9_at_zero_raises_nothing() -> None:
    assert score_instrument(instrument_by_id("phq9"), _all("phq9", 0)).alerts == ()


def test_facilitator_items_are_reversed_so_that_high_means_a_stronger_barrier() -> None:
    bfq = instrument_by_id("bfq")
    # Strongly agreeing with "my medicine does less than it used to" (a facilitator) lowers the barrier.
    answers: dict[str, int | str] = {"bfq_pain_1": 4, "bfq_pain_2": 4, "bfq_pain_3": 4}
    result = score_instrument(bfq, answers)
    assert result.score("bfq_pain_relief").value == Decimal("2.7")  # (4 + 4 + 0) / 3
    assert result.score("bfq_pain_relief").band == "a barrier"


def test_past_attempts_are_not_applicable_for_someone_who_never_tried() -> None:
    result = score_instrument(instrument_by_id("bfq"), {"bfq_tried": 0})
    score = result.score("bfq_past_attempts")
    assert (score.status, score.value) == ("not_applicable", None)
    assert "bfq_tried_setback" not in result.unanswered


def test_an_answer_to_a_question_that_was_not_asked_is_noted_and_not_scored() -> None:
    result = score_instrument(instrument_by_id("bfq"), {"bfq_tried": 0, "bfq_tried_setback": 4})
    assert result.score("bfq_past_attempts").status == "not_applicable"
    assert result.notes
    assert "bfq_tried_setback" in result.notes[0]


def test_answers_from_text_are_read_and_blank_is_unanswered() -> None:
    answers = read_answers(
        instrument_by_id("peg"), {"peg_pain": " 7 ", "peg_enjoyment": "", "peg_activity": None}
    )
    assert answers == {"peg_pain": 7}


@pytest.mark.parametrize("value", ["11", "-1", "seven", "7.5", "=1+1", True])
def test_an_answer_outside_the_item_names_the_item_and_the_allowed_answers(value: object) -> None:
    with pytest.raises(AnswerError) as caught:
        read_answers(instrument_by_id("peg"), {"peg_pain": value})
    assert caught.value.item_id == "peg_pain"
    assert "0 to 10" in str(caught.value) or "true/false" in str(caught.value)


def test_a_cows_point_value_that_is_not_an_answer_is_refused() -> None:
    with pytest.raises(
        AnswerError, match=r"cows_restlessness: '2' is not one of the answers: 0 .*, 1 .*, 3 .*, 5"
    ):
        read_answers(instrument_by_id("cows"), {"cows_restlessness": 2})


def test_a_name_that_is_not_an_item_is_refused() -> None:
    with pytest.raises(AnswerError, match="phq9_10: is not an item of PHQ-9"):
        read_answers(instrument_by_id("phq9"), {"phq9_10": 1})


def _complete_answers(instrument: Instrument) -> st.SearchStrategy[dict[str, int]]:
    return st.fixed_dictionaries(
        {
            item.id: st.sampled_from([c.value for c in item.choices])
            for item in instrument.items
            if item.kind == "choice"
        }
    )


@pytest.mark.parametrize("instrument", load_instruments(), ids=lambda i: i.id)
@given(data=st.data())
def test_every_complete_answer_set_scores_within_the_declared_range(
    instrument: Instrument, data: st.DataObject
) -> None:
    answers = data.draw(_complete_answers(instrument))
    result = score_instrument(instrument, answers)  # type: ignore[arg-type]
    for score in result.scores:
        if score.status == "not_applicable":
            continue
        rule = next(rule for rule in instrument.scores if rule.id == score.score_id)
        assert score.status == "scored"
        assert score.value is not None
        assert rule.minimum <= score.value <= rule.maximum
        assert (score.band is None) == (not rule.bands)


@pytest.mark.parametrize("instrument", load_instruments(), ids=lambda i: i.id)
@given(data=st.data())
def test_leaving_out_any_needed_answer_makes_the_score_unknown(
    instrument: Instrument, data: st.DataObject
) -> None:
    answers = data.draw(_complete_answers(instrument))
    rule = data.draw(st.sampled_from(instrument.scores))
    result = score_instrument(instrument, answers)  # type: ignore[arg-type]
    if result.score(rule.id).status == "not_applicable":
        return
    dropped = data.draw(
        st.sampled_from([*rule.item_ids, *([rule.weights_by.item_id] if rule.weights_by else [])])
    )
    del answers[dropped]
    after = score_instrument(instrument, answers).score(rule.id)  # type: ignore[arg-type]
    assert after.status in ("unknown", "not_applicable")
    assert after.value is None


def test_past_attempts_are_unknown_while_having_tried_is_unanswered() -> None:
    score = score_instrument(instrument_by_id("bfq"), {"bfq_pain_1": 1}).score("bfq_past_attempts")
    assert (score.status, score.missing) == ("unknown", ("bfq_tried",))
