import math

import pytest

from bench.scoring import Scorer
from bench.side_effects import first_new_token, nkl


def _log(ps):
    return [math.log(p) for p in ps]


def test_nkl_is_zero_for_the_same_distribution():
    top = [[3, 1]]
    assert nkl(top, [_log([0.6, 0.3])], [_log([0.6, 0.3])]) == 0.0


def test_nkl_by_hand_with_the_rest_bin():
    # P over {3, 1, rest} = (0.6, 0.3, 0.1); Q = (0.2, 0.5, 0.3)
    p, q = [0.6, 0.3, 0.1], [0.2, 0.5, 0.3]
    expected = sum(a * math.log(a / b) for a, b in zip(p, q))
    assert nkl([[3, 1]], [_log(p[:2])], [_log(q[:2])]) == pytest.approx(expected)


def test_nkl_averages_answer_positions():
    same, changed = _log([0.5, 0.5]), _log([0.9, 0.1])
    one = nkl([[0, 1]], [same], [changed])
    assert nkl([[0, 1], [0, 1]], [same, same], [same, changed]) == pytest.approx(one / 2)


def test_first_new_token_is_the_tokenisation_of_the_pair(tiny_llama):
    scorer = Scorer(tiny_llama.model, tiny_llama.tokenizer)
    ids = tiny_llama.tokenizer("Spike Hughes originates from Paris").input_ids
    prompt_ids = tiny_llama.tokenizer("Spike Hughes originates from").input_ids
    assert first_new_token(scorer, "Spike Hughes originates from", " Paris, France") == ids[len(prompt_ids)]
    assert first_new_token(scorer, "Spike Hughes originates from", "  ") is None
