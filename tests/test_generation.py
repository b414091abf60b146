import math

import pytest

from bench.generation import answer_matches, cut_answer, exact_match, ngram_entropy, normalize, sentence_end


def test_normalize_drops_case_punctuation_articles_and_spaces():
    assert normalize("  The  City of   Paris, France! ") == "city of paris france"
    assert normalize("An apple a day") == "apple day"


@pytest.mark.parametrize(("generated", "answers", "expected"), [
    ("Paris", ["Paris"], True),
    ("Paris, France, where he", ["Paris"], True),
    ("the Paris", ["Paris"], True),  # articles dropped
    ("Parisian cafes", ["Paris"], False),  # a word boundary is required
    ("in Paris", ["Paris"], False),  # begins with, not contains
    ("DJT was", ["Donald Trump", "DJT"], True),  # an alias
    ("", ["Paris"], False),
    ("Paris", [""], False),
])
def test_answer_matches_equals_or_begins_with_at_a_word_boundary(generated, answers, expected):
    assert answer_matches(generated, answers) is expected


def test_sentence_end_skips_abbreviations_and_initialisms():
    assert sentence_end("Paris. The city") == len("Paris.")
    assert sentence_end("St. Louis is big. Yes") == len("St. Louis is big.")
    assert sentence_end("the U.S. Army fought. Then") == len("the U.S. Army fought.")
    assert sentence_end("Dr. No") is None
    assert sentence_end("Washington, D.C.") is None  # no whitespace after the mark yet
    assert sentence_end("Really? Yes") == len("Really?")


def test_cut_answer_keeps_the_first_sentence():
    assert cut_answer(" Paris. It is the capital") == "Paris."
    assert cut_answer("St. Petersburg, Russia") == "St. Petersburg, Russia"


def test_ngram_entropy_by_hand():
    # "a b a b": bigrams (a,b) x2, (b,a) x1 -> H2 = -(2/3 log2 2/3 + 1/3 log2 1/3); trigrams (a,b,a), (b,a,b) -> 1 bit
    h2 = -(2 / 3 * math.log2(2 / 3) + 1 / 3 * math.log2(1 / 3))
    expected = (2 / 3 * h2 + 4 / 3 * 1.0) / 2
    assert ngram_entropy("a b a b") == pytest.approx(expected)
    assert ngram_entropy("") == 0.0
    assert ngram_entropy("the gods the gods the gods the gods") < ngram_entropy("one two three four five six seven")


def test_exact_match_is_mquakes_whole_answer_rule():
    assert exact_match("Kolinda Grabar-Kitarović.", ["Someone", "kolinda grabar kitarović"])
    assert not exact_match("", ["x"]) and not exact_match("Paris, France", ["Paris"])
    assert not exact_match("The Hague", ["Hague"])  # articles stay, unlike normalize
