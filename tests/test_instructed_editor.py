"""The editor contract in gold mode: instructions only for edited cases, exact reset, batching, generation."""

from __future__ import annotations

import dataclasses
import re

import pytest
import torch

from bench.data.schema import NHOP, Edit, Query
from bench.editor import Request
from bench.errors import BenchError
from bench.registry import build_config, get_editor_class
from editors.instructed import InstructEd, InstructEdConfig
from editors.instructed.testing import fixture_cases, make_checkpoint, mquake_case, resources, tiny_lm
from editors.noedit import NoEdit


@pytest.fixture(scope="module", params=["tiny-llama", "tiny-gpt2"])
def lm(request):
    return tiny_lm(request.param)


@pytest.fixture(scope="module")
def checkpoint(lm, tmp_path_factory):
    path = tmp_path_factory.mktemp(f"instructed-{lm.name}")
    make_checkpoint(lm, path, [1, 2])
    return path


def requests(cases):
    return [Request(c, q) for c in cases for q in c.queries]


def test_registry_builds_the_editor_from_strings(lm, checkpoint):
    cls = get_editor_class("instructed")
    cfg = build_config(cls, {"checkpoint": str(checkpoint), "layers": "1:3", "reweight": "off", "mode": "retrieval"})
    assert cls is InstructEd and cfg.layers == [1, 2] and cfg.reweight is False and cfg.mode == "retrieval"
    with pytest.warns(UserWarning, match="trained with reweight=True"):
        ed = InstructEd(lm, cfg, resources())
    assert ed.describe()["layers"] == [1, 2] and ed.describe()["checkpoint_trained"]["train_data"] == ["fixture"]


def test_gold_mode_instructs_only_edited_cases_and_reset_is_exact(lm, checkpoint):
    ed = InstructEd(lm, InstructEdConfig(checkpoint=str(checkpoint)), resources())
    cases = fixture_cases()
    reqs = requests(cases)
    base = NoEdit(lm).score(reqs)
    ed.edit(cases[:1])
    scores = ed.score(reqs)
    assert ed.prepare(reqs).fired == [r.case is cases[0] for r in reqs]
    for r, s, b in zip(reqs, scores, base):  # plain rows in an instructed batch: the base model to 1e-5
        close = torch.allclose(torch.tensor(s.logprobs), torch.tensor(b.logprobs), atol=1e-5)
        assert close != (r.case is cases[0])
    prompts = ed.prepare(reqs).prompts
    assert prompts[2] == f"Instruction:\n{cases[0].instruction}\nInput:\n{cases[0].queries[2].prompt}"  # locality
    ed.reset()
    assert [s.logprobs for s in ed.score(reqs)] == [b.logprobs for b in base]


def test_batch_edit_scores_like_single_edits(lm, checkpoint):
    ed = InstructEd(lm, InstructEdConfig(checkpoint=str(checkpoint)), resources())
    cases = fixture_cases()
    ed.edit(cases)
    together = ed.score(requests(cases))
    alone = []
    for case in cases:
        ed.reset()
        ed.edit([case])
        alone += ed.score(requests([case]))
    for a, b in zip(together, alone):
        assert a.pred_ids == b.pred_ids
        assert torch.allclose(torch.tensor(a.logprobs), torch.tensor(b.logprobs), atol=1e-4)


def test_generation_and_multihop_gold_instruction(lm, checkpoint):
    ed = InstructEd(lm, InstructEdConfig(checkpoint=str(checkpoint)), resources())
    case = mquake_case()
    ed.edit([case])
    question = Request(case, case.of_kind(NHOP)[0])
    (prompt,) = ed.prepare([question]).items
    assert prompt.prompt.startswith(f"Instruction:\n{case.instruction}\nInput:\nWho is the head")
    texts = ed.generate([question, Request(fixture_cases()[0], fixture_cases()[0].queries[0])], max_new_tokens=3)
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)


def test_alias_instruction(lm, checkpoint):
    ed = InstructEd(lm, InstructEdConfig(checkpoint=str(checkpoint), alias_instruction=True), resources())
    case = fixture_cases()[0]
    ed.edit([case])
    (prepared,) = ed.prepare([Request(case, case.queries[0])]).items
    assert prepared.prompt.startswith("Instruction:\nDanielle Darrieux is also known as Darrieux. The mother")
    assert 0.0 < prepared.meta.sim <= 1.0


def test_paper_compat_hooks_for_the_protocol(lm, checkpoint, tmp_path):
    paper = InstructEd(lm, InstructEdConfig(checkpoint=str(checkpoint), compat="paper", mode="retrieval"),
                       resources())
    make_checkpoint(lm, tmp_path, [1, 2], scaling="columns")
    columns = InstructEd(lm, InstructEdConfig(checkpoint=str(tmp_path), compat="paper"), resources())
    assert columns.config.scaling == "columns"  # the checkpoint's: compat is the protocol, not what was trained
    strict = InstructEd(lm, InstructEdConfig(checkpoint=str(checkpoint), mode="retrieval"), resources())
    case = fixture_cases()[0]
    assert strict.select_queries(case) == case.queries and strict.metric_options() == {"rel_fired_only": False}
    assert paper.metric_options() == {"rel_fired_only": True}
    assert [q.kind for q in paper.select_queries(case)] == ["rel", "gen", "loc"]  # one of each (fixture has one)


def test_a_checkpoint_records_whether_the_sink_is_kept_out(lm, tmp_path):
    """Checkpoints trained before the sink fix (config without sink_kept) are evaluated as trained: sink scaled."""
    import json

    make_checkpoint(lm, tmp_path, [1, 2])
    assert InstructEd(lm, InstructEdConfig(checkpoint=str(tmp_path)), resources()).spanner.keep_sink
    raw = json.loads((tmp_path / "config.json").read_text())
    del raw["sink_kept"]  # the first checkpoint format
    (tmp_path / "config.json").write_text(json.dumps(raw))
    old = InstructEd(lm, InstructEdConfig(checkpoint=str(tmp_path)), resources())
    assert not old.spanner.keep_sink
    forced = InstructEd(lm, InstructEdConfig(checkpoint=str(tmp_path), sink="kept"), resources())
    assert forced.spanner.keep_sink
    assert InstructEd(lm, InstructEdConfig(prefix=False), resources()).spanner.keep_sink


@pytest.mark.parametrize("across_roles", [True, False])
def test_cases_whose_neighbourhood_prompts_were_trained_on_are_refused(lm, tmp_path, across_roles):
    """A neighbourhood prompt trained as a locality prompt is refused by every checkpoint, also one trained before
    the filter across roles (as 42a5d1a refused it)."""
    cases = fixture_cases()
    make_checkpoint(lm, tmp_path, [1, 2], trained_on=cases[:1], across_roles=across_roles)
    ed = InstructEd(lm, InstructEdConfig(checkpoint=str(tmp_path)), resources())
    # another case (not trained on) that shares the trained case's neighbourhood prompt
    sharing = dataclasses.replace(cases[1], case_id="other", queries=cases[1].queries + cases[0].of_kind("loc"))
    assert [c for c in [sharing, cases[2]] if not ed._seen(c)] == [cases[2]]
    refused = "other (its loc prompt 'The mother tongue of Paris is' was a training loc prompt)"
    with pytest.raises(BenchError, match=re.escape(refused)):
        ed.edit([sharing])


TRAINED = fixture_cases()[0]  # trained on: its paraphrase (edit example), its neighbourhood prompt, its rewrite
CROSSED = [  # (evaluated role, the prompt shown in it, its role in training)
    ("rel", TRAINED.of_kind("loc")[0].prompt, "loc"),  # CounterFact case 124: an edit prompt trained as locality
    ("loc", TRAINED.edits[0].prompt, "rewrite"),  # the 18 neighbourhood prompts that are training rewrite prompts
    ("gen", TRAINED.edits[0].prompt, "rewrite"),
    ("rewrite", TRAINED.of_kind("gen")[0].prompt, "edit"),  # an evaluated rewrite whose prompt was a training question
]


def crossed_case(role: str, shown: str):
    """Fixture case 2 showing `shown` in `role`."""
    other = fixture_cases()[1]
    if role == "rewrite":
        return dataclasses.replace(other, edits=[Edit(shown, "Toko Yasuda", "piano", "guitar")])
    return dataclasses.replace(other, queries=[q for q in other.queries if q.kind != role] + [Query(role, shown, "x")])


@pytest.mark.parametrize("role, shown, trained_as", CROSSED)
def test_a_case_showing_a_prompt_trained_in_another_role_is_refused_before_the_first_unit(lm, tmp_path, role, shown,
                                                                                          trained_as):
    """Issue 37: the guard compared each role only with itself, so these cases were accepted. A checkpoint trained
    with the filter across roles (config.json: exclusion roles=cross) refuses them."""
    cases = fixture_cases()
    make_checkpoint(lm, tmp_path, [1, 2], trained_on=cases[:1])
    crossed = crossed_case(role, shown)
    ed = InstructEd(lm, InstructEdConfig(checkpoint=str(tmp_path), mode="retrieval"), resources())
    assert ed._seen(crossed) and not ed._seen(cases[2])
    why = f"fixture-cf:2 (its {role} prompt {shown!r} was a training {trained_as} prompt)"
    with pytest.raises(BenchError, match=re.escape(why)):
        ed.begin_run([cases[2], crossed])


@pytest.mark.parametrize("role, shown, trained_as", CROSSED)
def test_a_checkpoint_trained_before_the_filter_across_roles_scores_such_a_case_and_reports_it(
        lm, tmp_path, caplog, role, shown, trained_as):
    """No record of the filter across roles (every checkpoint before 2026-12-06): one warning naming the case, the
    prompt, both roles and the retraining command; the case ids in config.json (describe); its rows marked."""
    cases = fixture_cases()
    make_checkpoint(lm, tmp_path, [1, 2], trained_on=cases[:1], across_roles=False)
    crossed = crossed_case(role, shown)
    ed = InstructEd(lm, InstructEdConfig(checkpoint=str(tmp_path)), resources())
    assert not ed._seen(crossed)
    with caplog.at_level("WARNING", logger="editors.instructed.editor"):
        ed.begin_run([cases[2], crossed])
        ed.edit([crossed])  # reported once per run, not per unit
    (warning,) = [r.getMessage() for r in caplog.records]
    why = f"its {role} prompt {shown!r} was a training {trained_as} prompt"
    assert f"1 of the evaluated cases show the model a prompt it trained in another role: fixture-cf:2 ({why})" \
        in warning
    assert warning.endswith(f"python -m bench train instructed --model {lm.name} --out {tmp_path} --overwrite")
    assert ed.describe()["trained_overlap"]["cases"] == {"fixture-cf:2": [why]}
    ed.edit([cases[2]])
    fields = ed.prepare(requests([crossed, cases[2]])).row_fields
    n = len(crossed.queries)
    assert fields[:n] == [{"trained_overlap": True}] * n and fields[n:] == [{}] * len(cases[2].queries)


def test_a_clean_run_records_no_overlap(lm, tmp_path):
    cases = fixture_cases()
    make_checkpoint(lm, tmp_path, [1, 2], trained_on=cases[:1], across_roles=False)
    ed = InstructEd(lm, InstructEdConfig(checkpoint=str(tmp_path)), resources())
    ed.begin_run(cases[1:])
    ed.edit(cases[1:2])
    assert "trained_overlap" not in ed.describe() and ed.prepare(requests(cases[1:])).row_fields is None


def test_a_question_about_one_of_several_facts_is_weighed_by_that_fact(lm, checkpoint):
    """Issue 37 item 6: Eq. 14 against the whole multi-fact instruction damps the fact asked about; with similarity
    fact (the default under compat=strict) sim is the question's best cosine with each stated fact, and a one-fact
    instruction keeps the whole-instruction cosine."""
    case, single = mquake_case(), fixture_cases()[0]
    enc = resources().encoder()

    def cos(a: str, b: str) -> float:
        ea, eb = enc.encode([a, b])
        return float(ea @ eb)

    sims = {}
    for similarity in ("auto", "instruction"):
        ed = InstructEd(lm, InstructEdConfig(checkpoint=str(checkpoint), similarity=similarity), resources())
        ed.edit([case, single])
        reqs = [Request(case, case.queries[1]), Request(single, single.queries[0])]
        sims[similarity] = [item.meta.sim for item in ed.prepare(reqs).items]
        assert ed.describe()["similarity"] == ("fact" if similarity == "auto" else "instruction")
    question = case.queries[1].prompt
    per_fact = max(cos(e.sentence, question) for e in case.edits)
    whole = cos(case.instruction, question)
    assert per_fact > whole + 0.05  # the fixture separates the two rules
    assert sims["auto"][0] == pytest.approx(per_fact, abs=1e-6)
    assert sims["instruction"][0] == pytest.approx(whole, abs=1e-6)
    assert sims["auto"][1] == sims["instruction"][1] == pytest.approx(cos(single.instruction, single.queries[0].prompt),
                                                                      abs=1e-6)


def test_similarity_follows_compat_and_old_records_used_the_whole_instruction():
    assert InstructEdConfig().per_fact and not InstructEdConfig(compat="paper").per_fact
    assert InstructEdConfig(compat="paper", similarity="fact").per_fact
    assert InstructEdConfig().unrecorded({"mode": "gold"}) == {"similarity": "instruction", "scaling": "columns"}
    assert InstructEdConfig().unrecorded({"mode": "gold", "similarity": "fact", "scaling": "columns"}) == {}
