"""The retrieval gate, the instruction memory, and the editor in retrieval mode (sequential memory growth)."""

from __future__ import annotations

import statistics

import pytest
import torch

from bench.data.schema import NHOP, Query
from bench.editor import Request
from editors.instructed import InstructEd, InstructEdConfig
from editors.instructed.retrieval import InstructionMemory, gate
from editors.instructed.testing import HashEncoder, fixture_cases, make_checkpoint, mquake_case, resources, tiny_lm
from editors.noedit import NoEdit


def test_gate_on_hand_made_scores():
    assert gate([0.9, 0.3, 0.25, 0.2, 0.1]) is True  # std 0.316
    assert gate([0.5, 0.48, 0.47, 0.45, 0.44]) is False  # std 0.024
    assert gate([0.2, 0.9, 0.1, 0.15, 0.12, 0.11, 0.1]) is True  # only the top 5 count, in any order
    assert gate([0.5, 0.45, 0.3, 0.2, 0.1], threshold=0.2) is False  # std 0.16: threshold is configurable
    assert gate([0.5, 0.45, 0.3, 0.2, 0.1], threshold=0.1) is True


def test_gate_is_torch_std_of_the_top_k():
    gen = torch.Generator().manual_seed(0)
    for _ in range(50):
        scores = torch.rand(8, generator=gen)
        top = scores.topk(5).values
        assert gate(scores.tolist()) == bool(top.std() > 0.1)


def test_gate_fills_a_small_memory_with_the_background_score():
    assert gate([0.9], fill=0.3) is True  # std of [0.9, 0.3 x4] = 0.268
    assert gate([0.45], fill=0.3) is False  # 0.067
    assert gate([0.45], fill=0.0) is True  # 0.201
    assert statistics.stdev([0.9, 0.3, 0.3, 0.3, 0.3]) == pytest.approx(0.2683, abs=1e-4)


@pytest.mark.parametrize("scores", [[0.07], [0.0], [-0.2], [0.07, 0.05], [0.1, 0.0, -0.1]])
def test_a_query_dissimilar_to_every_stored_edit_never_fires(scores):
    """The padding once stood above such scores: [0.07, 0.3 x4] has std 0.103 > 0.1, a firing on the low side."""
    assert gate(scores, fill=0.3) is False


def test_a_full_memory_is_the_papers_rule_untouched():
    assert gate([0.9, 0.3, 0.3, 0.3, 0.3], fill=0.0) is True and gate([0.1, 0.0, 0.0, 0.0, 0.0], fill=0.9) is False


def test_memory_ranks_and_clears():
    memory = InstructionMemory(HashEncoder())
    memory.add(["Toko Yasuda plays the piano.", "Rome is the capital of Italy.", "Cats eat fish."])
    query = HashEncoder().encode(["Which instrument does Toko Yasuda play?"])
    hits = memory.ranked(memory.scores(query)[0], 2)
    assert [h.text for h in hits][0] == "Toko Yasuda plays the piano." and hits[0].score > hits[1].score
    assert len(memory.ranked(memory.scores(query)[0], 10)) == 3
    memory.clear()
    assert len(memory) == 0 and memory.scores(query).shape == (1, 0)


@pytest.fixture(scope="module")
def lm():
    return tiny_lm("tiny-llama")


@pytest.fixture(scope="module")
def checkpoint(lm, tmp_path_factory):
    path = tmp_path_factory.mktemp("instructed-retrieval")
    make_checkpoint(lm, path, [1, 2])
    return path


def editor(lm, checkpoint, **kw) -> InstructEd:
    return InstructEd(lm, InstructEdConfig(checkpoint=str(checkpoint), mode="retrieval", **kw), resources())


def test_retrieval_fires_for_related_queries_and_grows_sequentially(lm, checkpoint):
    ed = editor(lm, checkpoint, retrieval_fill=0.0)
    first, second, _ = fixture_cases()
    unrelated = Request(first, Query("loc", "Berlin is in", "Germany"))
    reqs = [Request(first, first.queries[0]), Request(second, second.queries[0]), unrelated]
    assert ed.prepare(reqs).fired == [False, False, False]  # empty memory: the plain model
    ed.edit([first])
    prepared = ed.prepare(reqs)
    assert prepared.fired == [True, False, False]
    assert prepared.items[0].prompt.startswith(f"Instruction:\n{first.edits[0].sentence}\nInput:\n")
    ed.edit([second])  # sequential: the memory grows
    assert ed.prepare(reqs).fired == [True, True, False] and len(ed.memory) == 2
    ed.reset()
    scores, base = ed.score(reqs), NoEdit(lm).score(reqs)
    assert ed.prepare(reqs).fired == [False] * 3 and [s.logprobs for s in scores] == [b.logprobs for b in base]


def test_multihop_questions_take_the_top_k_facts(lm, checkpoint):
    case = mquake_case()
    question = Request(case, case.of_kind(NHOP)[0])
    strict = editor(lm, checkpoint, multihop_k=1)
    strict.edit([case])
    prepared = strict.prepare([question])
    (one,), fired = prepared.items, prepared.fired
    assert fired == [True] and sum(e.sentence in one.prompt for e in case.edits) == 1  # k=1: one fact
    with pytest.warns(UserWarning, match="compat=strict"):
        paper = editor(lm, checkpoint, compat="paper", multihop_k=1)
    paper.edit([case])
    assert paper._retrieval_query(question).startswith(question.text + " What is the country")
    (both,) = paper.prepare([question]).items
    assert all(e.sentence in both.prompt for e in case.edits)  # gold hop count (2) in compat=paper
