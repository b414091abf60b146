"""Instruction text, template and the token span of the instruction, on both tokenizer families."""

from __future__ import annotations

import pytest

from editors.instructed.instructions import (
    Spanner,
    alias_sentence,
    case_instruction,
    common_prefix,
    format_prompt,
    memory_entries,
)
from editors.instructed.testing import fixture_cases, mquake_case, tiny_lm


@pytest.fixture(scope="module", params=["tiny-llama", "tiny-gpt2"])
def tokenizer(request):
    return tiny_lm(request.param).tokenizer


def test_template_and_plain_question():
    assert format_prompt("Messi plays for Miami.", "Where does Messi play?") == (
        "Instruction:\nMessi plays for Miami.\nInput:\nWhere does Messi play?")
    assert format_prompt("", "Where does Messi play?") == "Where does Messi play?"


def test_case_instruction_joins_all_rewrites_and_the_alias_sentence():
    cf, mq = fixture_cases()[0], mquake_case()
    assert case_instruction(cf) == "The mother tongue of Danielle Darrieux is English."
    assert alias_sentence(cf) == "Danielle Darrieux is also known as Darrieux."
    assert case_instruction(cf, alias=True) == (
        "Danielle Darrieux is also known as Darrieux. The mother tongue of Danielle Darrieux is English.")
    assert case_instruction(mq) == "Ellie Kemper is a citizen of Croatia. The head of state of Croatia is Toyota."
    assert memory_entries(mq) == ["Ellie Kemper is a citizen of Croatia.", "The head of state of Croatia is Toyota."]
    assert case_instruction(fixture_cases()[1], alias=True) == case_instruction(fixture_cases()[1])  # no alias


def test_common_prefix():
    assert common_prefix([1, 2, 3], [1, 2, 4, 5]) == 2
    assert common_prefix([], [1]) == 0


def test_span_covers_exactly_the_instruction_header(tokenizer):
    """keep_sink=False: the whole header. By default a BOS-less tokenizer's token 0 (the attention sink) is
    left out of the span; with a BOS (tiny-llama) the BOS is the sink and the span is the whole header."""
    instruction, question = "Toko Yasuda plays the piano.", "Toko Yasuda performs on the"
    ids = tokenizer(format_prompt(instruction, question)).input_ids
    n_lead = len(tokenizer("").input_ids)
    meta = Spanner(tokenizer, keep_sink=False).meta(instruction, question, 0.5)
    assert tokenizer.decode(ids[meta.ins_start:meta.ins_end]) == f"Instruction:\n{instruction}\nInput:\n"
    assert tokenizer.decode(ids[meta.ins_end:]).strip() == question
    assert meta.ins_start == n_lead  # BOS (tiny-llama) is not an instruction token
    # the authors' count (compat=paper rows) includes BOS
    assert tokenizer.decode(ids[meta.ins_start:meta.paper_rows]) == f"Instruction:\n{instruction}"
    assert meta.sim == 0.5 and meta.paper_start == 0
    kept = Spanner(tokenizer).meta(instruction, question, 0.5)
    assert kept.ins_start == max(n_lead, 1) and kept.paper_start == (1 if n_lead == 0 else 0)
    assert (kept.ins_end, kept.paper_rows) == (meta.ins_end, meta.paper_rows)
