"""Generated answers and side effects through the protocols, on the tiny model: an editor that changes nothing
gets Loc_gen 100, NKL 0 and no perplexity drift exactly; a weight edit moves them."""

from dataclasses import replace

import pytest
from conftest import make_case

from bench.data.schema import FLUENCY, LOC, REL
from bench.metrics import case_metrics
from bench.probes import ProbeConfig, with_probes
from bench.protocols import Baseline, ProtocolConfig, run_protocol
from bench.scoring import Scorer
from editors.ft import FTM, FTMConfig
from editors.noedit import NoEdit

BOTH = ProtocolConfig("single", scoring="both", side_effects=True)


def _rows(editor, cases, cfg=BOTH):
    base = Baseline(Scorer(editor.model, editor.tokenizer))
    return [r for _, rows in run_protocol(editor, cases, base, cfg, set()) for r in rows]


@pytest.fixture
def probed():
    other = make_case("c2", "Toko Yasuda", "Paris")
    cases = [make_case("c1"), replace(other, edits=[replace(other.edits[0], relation_id="P27")])]
    return with_probes(cases, cases, ProbeConfig(unrelated=1, distracting=True, fluency=1))


def test_an_editor_that_changes_nothing_keeps_every_generated_answer(tiny_llama, probed):
    rows = _rows(NoEdit(tiny_llama), probed)
    values = case_metrics("c1", [r for r in rows if r["case_id"] == "c1"]).values
    assert values["Loc_gen"] == 100.0 and values["NKL"] == 0.0 and values["PPL_drift"] == 0.0
    assert values["Loc_distract"] == 100.0 and values["Loc_unrelated"] == 100.0
    loc = [r for r in rows if r["kind"] == LOC]
    assert all(r["generated"] == r["gen_ref"] for r in loc)
    rel = [r for r in rows if r["kind"] == REL]
    assert all("generated" in r and r["gen_acc"] in (0.0, 1.0) and "known" in r and "known_gen" in r for r in rel)
    fluency = [r for r in rows if r["kind"] == FLUENCY]
    assert len(fluency) == 2 and all(r["entropy"] >= 0 and r["generated"] for r in fluency)


def test_a_weight_edit_moves_nkl_and_reaches_generation(tiny_llama, probed):
    rows = _rows(FTM(tiny_llama, FTMConfig(lr=2e-2, num_steps=40)), probed[:1])
    values = case_metrics("c1", rows).values
    assert values["NKL"] > 0
    assert values["PPL_drift"] != 0.0
    rel = next(r for r in rows if r["kind"] == REL)
    assert rel["acc"] == 1.0  # teacher-forced: the edit holds ...
    assert values["Rel_gen"] <= 100 * rel["acc"]  # ... and the generated view is never more lenient here


def test_generation_only_leaves_the_teacher_forced_fields_out(tiny_llama, probed):
    rows = _rows(NoEdit(tiny_llama), probed[:1], ProtocolConfig("single", scoring="gen", side_effects=False))
    assert not any("acc" in r or "loc" in r for r in rows)
    values = case_metrics("c1", rows).values
    assert values["Rel"] is None and values["Loc"] is None and values["Loc_gen"] == 100.0
    assert not any(r["kind"] == FLUENCY for r in rows) and values["NKL"] is None


def test_teacher_forcing_alone_writes_what_it_always_wrote(tiny_llama):
    rows = _rows(NoEdit(tiny_llama), [make_case()], ProtocolConfig("single"))
    assert not any("generated" in r or "nkl" in r or "known" in r for r in rows)


def test_generated_answers_equal_unbatched_ones(tiny_llama, probed):
    """The batched generation the protocol runs gives each prompt the answer it gets alone."""
    editor = NoEdit(tiny_llama)
    rows = [r for r in _rows(editor, probed, ProtocolConfig("single", scoring="gen")) if "generated" in r]
    from bench.editor import Request
    from bench.generation import GEN_TOKENS, SENTENCE_STOP, cut_answer

    case = {c.case_id: c for c in probed}
    for r in rows[:6]:
        c = case[r["case_id"]]
        alone = editor.generate([Request(c, c.queries[r["qi"]])], GEN_TOKENS, stop=SENTENCE_STOP)[0]
        assert cut_answer(alone) == r["generated"]


def _without_neighbours(cases):
    """MQuAKE-like: the cases ship no neighbourhood prompts, so their unrelated prompts are their locality set."""
    return [replace(c, queries=[q for q in c.queries if q.kind != LOC]) for c in cases]


def test_without_neighbourhood_prompts_nkl_and_loc_gen_use_the_unrelated_prompts(tiny_llama):
    other = make_case("c2", "Toko Yasuda", "Paris")
    cases = _without_neighbours([make_case("c1"), replace(other, edits=[replace(other.edits[0], relation_id="P27")])])
    probed = with_probes(cases, cases, ProbeConfig(unrelated=1, distracting=True, fluency=0))
    unchanged = case_metrics("c1", [r for r in _rows(NoEdit(tiny_llama), probed) if r["case_id"] == "c1"]).values
    assert unchanged["Loc"] is None and unchanged["Loc_distract"] is None  # no neighbours, nothing distracted
    assert unchanged["Loc_gen"] == 100.0 and unchanged["NKL"] == 0.0 and unchanged["Leak"] in (0.0, 100.0)
    edited = case_metrics("c1", _rows(FTM(tiny_llama, FTMConfig(lr=2e-2, num_steps=40)), probed[:1])).values
    assert edited["NKL"] > 0


def test_cases_with_neighbourhood_prompts_keep_their_unrelated_rows_teacher_forced(tiny_llama, probed):
    from bench.data.schema import LOC_UNRELATED

    rows = _rows(NoEdit(tiny_llama), probed)
    unrelated = [r for r in rows if r["kind"] == LOC_UNRELATED]
    assert unrelated and not any("generated" in r or "nkl" in r for r in unrelated)
