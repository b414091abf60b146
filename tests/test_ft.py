"""FT-L / FT-M: the edit raises the target, reset is bitwise, FT-L stays inside its L-inf ball, objectives are exact."""

from __future__ import annotations

import os

import pytest
import torch
from conftest import make_case

from bench.arch import get_module
from bench.data.schema import REL
from bench.editor import Request
from bench.registry import build_config, get_editor_class
from bench.restore import parameter_hash
from bench.scoring import Prepared, Scorer
from editors.ft import FTL, FTM, FTLConfig, FTMConfig, edit_layers, prompt_last_nll, target_new_nll
from editors.ft.objectives import encode_rows

ITEMS = [Prepared("Spike Hughes originates from", "Philadelphia"), Prepared("The mother tongue of X is", "English")]


def rel_scores(editor, case):
    return editor.score([Request(case, q) for q in case.of_kind(REL)])


def edited_weight(editor):
    return get_module(editor.model, edit_layers(editor.model, editor.config)[0], "mlp_out").weight


@pytest.mark.parametrize("cls,cfg", [(FTM, FTMConfig(lr=1e-2)), (FTL, FTLConfig(lr=1e-2, norm_constraint=0.1))])
def test_edit_raises_the_target_and_reset_is_bitwise(tiny_lm, cls, cfg):
    editor, case = cls(tiny_lm, cfg), make_case()
    before_hash = parameter_hash(tiny_lm.model)
    (before,) = rel_scores(editor, case)
    editor.edit([case])
    (after,) = rel_scores(editor, case)
    if cls is FTM:  # teacher-forced objective: the whole target rises
        assert after.logprob > before.logprob + 1.0
    else:  # 'prompt_last' trains all targets at the last prompt token: the first target token rises
        assert after.logprobs[0] > before.logprobs[0] + 0.2
    assert editor.last_losses[-1] < editor.last_losses[0] - 0.3
    assert parameter_hash(tiny_lm.model) != before_hash
    assert not any(p.requires_grad for p in tiny_lm.model.parameters())
    editor.reset()
    assert parameter_hash(tiny_lm.model) == before_hash


def test_ftm_reaches_full_accuracy_on_the_edit(tiny_lm):
    editor, case = FTM(tiny_lm, FTMConfig(lr=2e-2, num_steps=40)), make_case()
    editor.edit([case])
    (after,) = rel_scores(editor, case)
    editor.reset()
    assert after.accuracy == 1.0


def test_ftl_respects_the_norm_constraint(tiny_lm):
    eps = 1e-3
    editor = FTL(tiny_lm, FTLConfig(lr=1e-2, norm_constraint=eps, num_steps=5))
    w0 = edited_weight(editor).detach().clone()
    others = {n: p.detach().clone() for n, p in tiny_lm.model.named_parameters() if p is not edited_weight(editor)}
    editor.edit([make_case()])
    delta = (edited_weight(editor).detach() - w0).abs()
    changed = [n for n, p in tiny_lm.model.named_parameters() if n in others and not torch.equal(p, others[n])]
    editor.reset()
    assert delta.max().item() <= eps * (1 + 1e-5)
    assert delta.max().item() > eps / 2  # the constraint is active: Adam moves ~lr >> eps per step
    assert changed == []  # only the one MLP output projection is trained


def test_sequential_edits_accumulate_and_reset_restores_the_original(tiny_lm):
    editor = FTM(tiny_lm, FTMConfig(lr=1e-2, num_steps=5))
    original = parameter_hash(tiny_lm.model)
    editor.edit([make_case("a")])
    after_first = edited_weight(editor).detach().clone()
    editor.edit([make_case("b", "Toko Yasuda", "Paris")])
    assert not torch.equal(edited_weight(editor), after_first)
    editor.reset()
    assert parameter_hash(tiny_lm.model) == original


def test_a_stream_resumed_from_its_sequential_state_continues_bitwise(tiny_lm):
    """FT gave no state, so a resumed FT-M stream replayed every edit (a 1,000-edit stream: an hour)."""
    cfg, original = FTMConfig(lr=1e-2, num_steps=5), parameter_hash(tiny_lm.model)
    editor = FTM(tiny_lm, cfg)
    editor.edit([make_case("a")])
    state = editor.sequential_state()
    assert list(state) == editor.weight_names()  # the one trained projection, as edited
    editor.edit([make_case("b", "Toko Yasuda", "Paris")])
    continued = edited_weight(editor).detach().clone()
    editor.reset()
    resumed = FTM(tiny_lm, cfg)
    resumed.load_sequential_state(state)
    resumed.edit([make_case("b", "Toko Yasuda", "Paris")])
    assert torch.equal(edited_weight(resumed), continued)
    resumed.reset()
    assert parameter_hash(tiny_lm.model) == original


def test_batch_edit_trains_all_cases_in_one_mini_batch(tiny_lm):
    cases = [make_case("a"), make_case("b", "Toko Yasuda", "Paris")]
    editor = FTM(tiny_lm, FTMConfig(lr=1e-2))
    before = [rel_scores(editor, c)[0].logprob for c in cases]
    editor.edit(cases)
    after = [rel_scores(editor, c)[0].logprob for c in cases]
    editor.reset()
    assert all(a > b + 1.0 for a, b in zip(after, before))


def test_target_new_nll_matches_the_scorer(tiny_lm):
    scorer = Scorer(tiny_lm.model, tiny_lm.tokenizer)
    rows = encode_rows(scorer, ITEMS)  # different lengths: exercises left padding
    expected = sum(-sum(s.logprobs) / len(s.logprobs) for s in scorer.score(ITEMS)) / len(ITEMS)
    with torch.no_grad():
        assert target_new_nll(scorer, rows).item() == pytest.approx(expected, abs=1e-5)


def test_prompt_last_nll_reads_all_targets_at_the_last_prompt_token(tiny_lm):
    scorer = Scorer(tiny_lm.model, tiny_lm.tokenizer)
    rows = encode_rows(scorer, ITEMS)
    manual = []
    with torch.no_grad():
        for e in rows:  # unpadded, one at a time
            logits = tiny_lm.model(torch.tensor([e.ids[:e.target_start]])).logits[0, -1]
            logp = torch.log_softmax(logits, -1)
            manual.append(-logp[e.ids[e.target_start:]].mean().item())
        assert prompt_last_nll(scorer, rows).item() == pytest.approx(sum(manual) / len(manual), abs=1e-5)


def test_default_layer_is_easyedit_21_of_32_scaled(tiny_lm):
    assert edit_layers(tiny_lm.model, FTMConfig()) == [round(21 * 4 / 32)]  # tiny models have 4 layers
    assert edit_layers(tiny_lm.model, FTMConfig(layers=[1])) == [1]


def test_registry_builds_typed_configs():
    cls = get_editor_class("ft-l")
    assert cls is FTL and get_editor_class("ft-m") is FTM
    cfg = build_config(cls, {"layers": "1,2", "lr": "0.1", "num_steps": "3"})
    assert cfg == FTLConfig(layers=[1, 2], lr=0.1, num_steps=3)
    assert FTLConfig().norm_constraint == 5e-5 and FTMConfig().norm_constraint == 0.0


@pytest.mark.integration
@pytest.mark.skipif(not os.environ.get("BENCH_DATA_DIR"), reason="needs BENCH_DATA_DIR with CounterFact")
def test_ftm_edits_real_counterfact_cases_on_smollm2():
    from bench.data import load_dataset
    from bench.models import load_model

    lm = load_model("smollm2-135m", device="cpu")
    cases = load_dataset("counterfact", limit=2)
    editor, original = FTM(lm), parameter_hash(lm.model)
    before = [rel_scores(editor, c)[0].accuracy for c in cases]
    editor.edit(cases)  # both cases in one mini-batch
    after = [rel_scores(editor, c)[0].accuracy for c in cases]
    editor.reset()
    assert parameter_hash(lm.model) == original
    assert all(a >= 0.9 for a in after) and sum(after) > sum(before)


@pytest.mark.parametrize("name", ["ft-m", "ft-l"])
def test_config_json_records_the_layer_edited(name, tmp_path):
    from bench.api import evaluate

    res = evaluate(name, [make_case()], model="tiny-llama", device="cpu", bootstrap=10, out=tmp_path / "run",
                   editor_args={name: {"num_steps": 1}})
    assert res.config["editors"][name]["config"]["layers"] == [round(21 * 4 / 32)] == [3]
    given = evaluate(name, [make_case()], model="tiny-llama", device="cpu", bootstrap=10, out=tmp_path / "given",
                     editor_args={name: {"num_steps": 1, "layers": [1]}})
    assert given.config["editors"][name]["config"]["layers"] == [1]


def test_a_run_recorded_before_the_resolved_layer_resumes(tmp_path):
    """Runs made before FT recorded its resolved layer say `layers: []`; the same arguments resume them, others not."""
    import json

    from bench.api import evaluate
    from bench.errors import BenchError

    out = tmp_path / "run"
    evaluate("ft-m", [make_case()], model="tiny-llama", device="cpu", bootstrap=10, out=out,
             editor_args={"ft-m": {"num_steps": 1}})
    config = json.loads((out / "config.json").read_text())
    config["editors"]["ft-m"]["config"]["layers"] = []  # as recorded before
    (out / "config.json").write_text(json.dumps(config))
    evaluate("ft-m", [make_case()], model="tiny-llama", device="cpu", bootstrap=10, out=out, resume=True,
             editor_args={"ft-m": {"num_steps": 1}})
    with pytest.raises(BenchError, match=r"layers=\[\] \(now \[1\]\)"):
        evaluate("ft-m", [make_case()], model="tiny-llama", device="cpu", bootstrap=10, out=out, resume=True,
                 editor_args={"ft-m": {"num_steps": 1, "layers": [1]}})
