"""The retrieval gate, the instruction memory, and the editor in retrieval mode: the memory of every edit of the
run's cases (memory=dataset) and of the edits made so far (memory=unit, sequential growth)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
import torch

from bench.data.schema import LOC, NHOP, Query
from bench.editor import Request
from bench.errors import BenchError
from bench.protocols import Baseline, ProtocolConfig, run_units
from bench.resume import check_editor_resume
from bench.scoring import Scorer
from editors.instructed import InstructEd, InstructEdConfig, calibrate_gate
from editors.instructed.retrieval import InstructionMemory, gate
from editors.instructed.testing import HashEncoder, fixture_cases, make_checkpoint, mquake_case, resources, tiny_lm
from editors.noedit import NoEdit


def test_gate_on_hand_made_scores():
    assert gate([0.9, 0.3, 0.25, 0.2, 0.1]) is True  # floored at 0.36: std 0.241
    assert gate([0.5, 0.48, 0.47, 0.45, 0.44]) is False  # std 0.024
    assert gate([0.2, 0.9, 0.1, 0.15, 0.12, 0.11, 0.1]) is True  # only the top 5 count, in any order
    assert gate([0.5, 0.45, 0.3, 0.2, 0.1], threshold=0.2, fill=0.0) is False  # std 0.16: threshold is configurable
    assert gate([0.5, 0.45, 0.3, 0.2, 0.1], threshold=0.1, fill=0.0) is True


def test_gate_below_every_score_is_torch_std_of_the_top_k():
    """The paper's rule untouched (evals_with_ret.py: torch.std(top-5 scores) > 0.1) when no score is below fill."""
    gen = torch.Generator().manual_seed(0)
    for _ in range(50):
        scores = torch.rand(8, generator=gen)
        top = scores.topk(5).values
        assert gate(scores.tolist(), fill=0.0) == bool(top.std() > 0.1)


def test_gate_fills_a_small_memory_with_the_background_score():
    assert gate([0.9], fill=0.3) is True  # std of [0.9, 0.3 x4] = 0.268
    assert gate([0.45], fill=0.3) is False  # 0.067
    assert gate([0.45], fill=0.0) is True  # 0.201
    assert statistics.stdev([0.9, 0.3, 0.3, 0.3, 0.3]) == pytest.approx(0.2683, abs=1e-4)


@pytest.mark.parametrize("scores", [[0.07], [0.0], [-0.2], [0.07, 0.05], [0.1, 0.0, -0.1]])
def test_a_query_dissimilar_to_every_stored_edit_never_fires(scores):
    """The padding once stood above such scores: [0.07, 0.3 x4] has std 0.103 > 0.1, a firing on the low side."""
    assert gate(scores, fill=0.3) is False


def test_a_sparse_memory_below_the_background_does_not_fire():
    """ZsRE case 12's neighbourhood prompt "who won the marathon in new york city" against the first 20 ZsRE edits
    (all-MiniLM-L6-v2): its top 5 have std 0.149, so the unfloored gate fired on the IAAF Combined Events edit; the
    2nd-5th scores lie below the background a whole-file memory would show, and floored at it the top score no longer
    stands out. A true paraphrase (ZsRE case 6, "Who's the architect at Toodyay Fire Station?") still fires."""
    marathon = [0.473, 0.192, 0.154, 0.122, 0.117]
    assert statistics.stdev(marathon) > 0.1  # what the old gate saw
    assert gate(marathon, fill=0.3) is False and gate(marathon) is False
    assert gate([0.831, 0.826, 0.27, 0.236, 0.225]) is True


def test_one_sparse_and_dense_memories_decide_alike():
    """Scores below the background count as it, so a query's decision depends on the memory's size no longer."""
    for top in (0.5, 0.55, 0.6, 0.65, 0.9):
        one, sparse, dense = [top], [top, 0.2, 0.1, 0.05, 0.0], [top, 0.36, 0.36, 0.36, 0.36]
        assert gate(one) == gate(sparse) == gate(dense) == (top > 0.36 + 0.1 / statistics.stdev([1, 0, 0, 0, 0]))


def test_a_full_memory_above_the_background_is_the_papers_rule_untouched():
    assert gate([0.9, 0.3, 0.3, 0.3, 0.3], fill=0.0) is True and gate([0.1, 0.0, 0.0, 0.0, 0.0], fill=0.9) is False
    assert gate([0.9, 0.45, 0.44, 0.42, 0.4]) is True and gate([0.6, 0.45, 0.44, 0.42, 0.4]) is False


def test_memory_ranks_truncates_and_clears():
    memory = InstructionMemory(HashEncoder())
    memory.add(["Toko Yasuda plays the piano.", "Rome is the capital of Italy."], [("d", "a"), ("d", "b")])
    memory.add(["Cats eat fish."], [("d", "c")])
    query = HashEncoder().encode(["Which instrument does Toko Yasuda play?"])
    hits = memory.ranked(memory.scores(query)[0], 2)
    assert [h.text for h in hits][0] == "Toko Yasuda plays the piano." and hits[0].score > hits[1].score
    assert hits[0].owner == ("d", "a") and len(memory.ranked(memory.scores(query)[0], 10)) == 3
    whole = memory.scores(query)
    memory.truncate(2)
    assert memory.entries == ["Toko Yasuda plays the piano.", "Rome is the capital of Italy."]
    assert memory.owners == [("d", "a"), ("d", "b")] and torch.equal(memory.scores(query), whole[:, :2])
    memory.clear()
    assert len(memory) == 0 and memory.scores(query).shape == (1, 0)
    with pytest.raises(ValueError, match="2 memory entries with 1 owners"):
        memory.add(["a", "b"], [("d", "a")])


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
    ed = editor(lm, checkpoint, retrieval_fill=0.0, memory="unit")
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
    strict = editor(lm, checkpoint, multihop_k=1, memory="unit")
    strict.edit([case])
    prepared = strict.prepare([question])
    (one,), fired = prepared.items, prepared.fired
    assert fired == [True] and sum(e.sentence in one.prompt for e in case.edits) == 1  # k=1: one fact
    paper = editor(lm, checkpoint, compat="paper", multihop_k=1, memory="unit")
    paper.edit([case])
    assert paper._retrieval_query(question).startswith(question.text + " What is the country")
    (both,) = paper.prepare([question]).items
    assert all(e.sentence in both.prompt for e in case.edits)  # gold hop count (2) in compat=paper


def test_the_dataset_memory_retrieves_the_edit_of_the_querys_own_case(lm, checkpoint):
    """Both cases' edits are in memory while only the first is edited (the single protocol): the question of the
    second retrieves the second's edit, as the authors' evaluation does with every edit of the file in memory."""
    first, second, third = fixture_cases()
    ed = editor(lm, checkpoint, retrieval_fill=0.0)
    ed.begin_run([first, second])
    assert ed.memory.entries == [first.edits[0].sentence, second.edits[0].sentence]
    ed.edit([first])
    reqs = [Request(second, second.queries[0]), Request(first, first.queries[1]), Request(third, third.queries[0])]
    prepared = ed.prepare(reqs)
    assert prepared.prompts[0] == f"Instruction:\n{second.edits[0].sentence}\nInput:\n{second.queries[0].prompt}"
    assert prepared.prompts[1].startswith(f"Instruction:\n{first.edits[0].sentence}\nInput:\n")
    assert prepared.row_fields[:2] == [{"retrieved_case": "2", "retrieved_ok": True},
                                       {"retrieved_case": "1", "retrieved_ok": True}]
    assert prepared.fired[2] is False and prepared.row_fields[2] == {"retrieved_case": "", "retrieved_ok": False}
    ed.edit([third])  # a case outside the run's list joins the memory until reset()
    assert ed.prepare(reqs[2:]).row_fields == [{"retrieved_case": "3", "retrieved_ok": True}]
    ed.reset()
    assert ed.memory.entries == [first.edits[0].sentence, second.edits[0].sentence]


def test_a_wrong_retrieval_is_recorded_as_such(lm, checkpoint):
    first, second, _ = fixture_cases()
    ed = editor(lm, checkpoint, retrieval_fill=0.0)
    ed.begin_run([first, second])
    asked = Request(second, Query("gen", "Which language did Danielle Darrieux speak as a child?", "piano"))
    ((fields), loc) = ed.prepare([asked, Request(first, first.of_kind(LOC)[0])]).row_fields
    assert fields == {"retrieved_case": "1", "retrieved_ok": False}  # the first case's edit answered it
    assert loc == {"retrieved_case": "1", "retrieved_ok": False}  # a locality prompt that fired


def test_a_sequential_stream_recalls_only_the_edits_it_has_made(lm, checkpoint):
    """memory=auto (the default) is the authors' memory of every edit of the run under the single protocol, and
    the edits made so far under the sequential one, where an edit not yet made must not be recalled; config.json
    records the memory used."""
    from dataclasses import replace

    first, second, _ = fixture_cases()
    assert editor(lm, checkpoint).config.memory == "dataset"
    stream = InstructEd(lm, InstructEdConfig(checkpoint=str(checkpoint), mode="retrieval", retrieval_fill=0.0),
                        replace(resources(), protocol="sequential"))
    stream.begin_run([first, second])
    assert stream.config.memory == "unit" and len(stream.memory) == 0
    stream.edit([first])
    assert stream.memory.entries == [first.edits[0].sentence]
    assert stream.prepare([Request(second, second.queries[0])]).fired == [False]  # the second edit is not made yet
    recorded = InstructEdConfig(checkpoint=str(checkpoint), mode="retrieval").resolved(lm, 0, InstructEd, "sequential")
    assert recorded.memory == "unit"
    assert InstructEdConfig(checkpoint=str(checkpoint), memory="dataset").resolved(
        lm, 0, InstructEd, "sequential").memory == "dataset"  # asked for: kept


@pytest.mark.parametrize("memory", ["dataset", "unit"])
def test_the_gate_never_fires_on_a_dissimilar_query(lm, checkpoint, memory):
    """No word in common with any stored edit (cosine 0 under the hashing encoder): the plain model answers."""
    cases = fixture_cases()
    ed = editor(lm, checkpoint, memory=memory)
    ed.begin_run(cases)
    ed.edit(cases[:1])
    far = Request(cases[0], Query(LOC, "Glaciers carve deep valleys", "slowly"))
    assert float(ed.memory.scores(HashEncoder().encode([far.query.prompt])).max()) == 0.0
    prepared = ed.prepare([far])
    assert prepared.fired == [False] and prepared.prompts == [far.query.prompt]
    assert prepared.row_fields == [{"retrieved_case": "", "retrieved_ok": True}]


GOLDEN = Path(__file__).parent / "data" / "instructed" / "retrieval_unit_rows.json"


def test_the_unit_memory_writes_the_rows_of_the_code_before_the_dataset_memory(lm, tmp_path):
    """GOLDEN holds the rows the code of commit 42a5d1a (one-edit memory, before `memory` existed) wrote for
    these four cases under the single protocol (tiny-llama, a columns checkpoint of layers [1, 2], HashEncoder,
    retrieval_fill=0.0). memory=unit with that code's Eq. 14 (similarity=instruction) writes every one of those fields
    unchanged, and adds only the retrieval's."""
    make_checkpoint(lm, tmp_path, [1, 2], scaling="columns")
    ed = editor(lm, tmp_path, retrieval_fill=0.0, memory="unit", similarity="instruction")
    cases = [*fixture_cases(), mquake_case()]
    ed.begin_run(cases)
    rows = [r for _, unit in run_units(ed, [[c] for c in cases], Baseline(Scorer(lm.model, lm.tokenizer)),
                                       ProtocolConfig(), set()) for r in unit]
    golden = json.loads(GOLDEN.read_text())
    assert len(rows) == len(golden) == 14 and [r["fired"] for r in golden].count(False) == 2
    for row, old in zip(rows, golden):
        # logprob is rounded to 6 decimals; another CPU's kernels may move the last one
        assert row["logprob"] == pytest.approx(old["logprob"], abs=2e-6)
        assert {k: row[k] for k in old if k != "logprob"} == {k: v for k, v in old.items() if k != "logprob"}
        assert set(row) - set(old) == {"retrieved_case", "retrieved_ok"}
        assert row["retrieved_ok"] == (not row["fired"] if row["kind"] == LOC else row["fired"])


def test_a_retrieval_run_recorded_before_memory_existed_resumes_only_with_the_unit_memory(tmp_path):
    old = {"config": {"name": "instructed-retrieval", "mode": "retrieval", "compat": "strict"}}
    now = {"name": "instructed-retrieval", "mode": "retrieval", "compat": "strict", "memory": "dataset",
           "similarity": "instruction"}
    unrecorded = InstructEdConfig().unrecorded(old["config"])
    assert unrecorded == {"memory": "unit", "similarity": "instruction", "scaling": "columns"}
    with pytest.raises(BenchError, match="memory='unit' \\(now 'dataset'\\)"):
        check_editor_resume(tmp_path / "config.json", "instructed-retrieval", old, now, None, unrecorded)
    check_editor_resume(tmp_path / "config.json", "instructed-retrieval", old, {**now, "memory": "unit"}, None,
                        unrecorded)
    assert "memory" not in InstructEdConfig().unrecorded({"mode": "gold"})  # gold mode never used a memory


def test_calibration_refuses_the_evaluated_cases():
    with pytest.raises(BenchError, match="evaluate the first 200 cases"):
        calibrate_gate.parse_args(["--cases", "100:300"])
    assert calibrate_gate.parse_args(["--cases", "200:400"]).start == 200


def test_calibration_rates_and_choice_on_hand_made_scores():
    scored = [calibrate_gate.Scored("d", "20", "loc", [0.5, 0.2, 0.1, 0.1, 0.1], False),  # std 0.178 unfloored
              calibrate_gate.Scored("d", "20", "rel", [0.9, 0.3, 0.2, 0.2, 0.1], True),
              calibrate_gate.Scored("d", "20", "gen", [0.9, 0.3, 0.2, 0.2, 0.1], False)]  # fires on another edit
    assert calibrate_gate.rates(scored, fill=0.0, threshold=0.1, top_k=5) == (100.0, 50.0)
    assert calibrate_gate.rates(scored, fill=0.36, threshold=0.1, top_k=5) == (0.0, 50.0)
    table = {0.30: {("a", "20"): (8.0, 80.0), ("b", "20"): (1.0, 90.0)},
             0.35: {("a", "20"): (5.0, 70.0), ("b", "20"): (0.0, 88.0)},
             0.40: {("a", "20"): (3.0, 60.0), ("b", "20"): (0.0, 85.0)}}
    assert calibrate_gate.choose(table, 5.0) == 0.35 and calibrate_gate.choose(table, 0.5) is None
