"""EM/F1 against the official HotPotQA evaluation's behaviour on its tricky cases."""

import pytest

from envs.hotpotqa.scoring import exact_match, f1, normalize_answer


@pytest.mark.parametrize(
    "text, normalised",
    [
        ("The Beatles", "beatles"),
        ("  An   Apple a day ", "apple day"),
        ("U.S.A.", "usa"),
        ("Arthur's Magazine", "arthurs magazine"),
        ("1,800 to 7,000 ft", "1800 to 7000 ft"),
        ("Theatre", "theatre"),  # articles only as whole words
        ("A-ha", "aha"),  # punctuation goes first, so the article rule sees "aha"
    ],
)
def test_normalize_answer_matches_official_rules(text, normalised):
    assert normalize_answer(text) == normalised


def test_exact_match_ignores_case_articles_punctuation():
    assert exact_match("the Saimaa Gesture", "The Saimaa Gesture")
    assert exact_match("Richard Nixon.", "richard nixon")
    assert not exact_match("Richard M. Nixon", "Richard Nixon")


def test_f1_token_overlap():
    assert f1("Richard Nixon", "Richard Nixon") == 1.0
    # prediction 3 tokens, gold 2, overlap 2: P=2/3, R=1 -> F1 = 0.8
    assert f1("president Richard Nixon", "Richard Nixon") == pytest.approx(0.8)
    assert f1("Gerald Ford", "Richard Nixon") == 0.0
    assert f1("", "Richard Nixon") == 0.0


def test_f1_yes_no_rule():
    assert f1("yes", "yes") == 1.0
    assert f1("Yes.", "yes") == 1.0
    assert f1("yes", "no") == 0.0
    # without the special rule these would share the token "yes"
    assert f1("yes", "yes it is") == 0.0
    assert f1("yes it is", "yes") == 0.0
    assert f1("noanswer", "no answer") == 0.0
