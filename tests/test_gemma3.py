"""The Gemma-3 family on `tiny-gemma3`: its layout, the post-norms the locate-and-edit methods must write
through, and the editors on this family (edits take effect, inactive editors give base logits, reset is bitwise)."""

from __future__ import annotations

import pytest
import torch
from conftest import make_case

from bench.arch import module_path, output_norm
from bench.data.schema import REL
from bench.editor import Request, Resources
from bench.registry import build_config
from bench.restore import fingerprint, parameter_hash
from bench.scoring import Scorer
from editors.ft import FTM, FTMConfig
from editors.grace import GRACE, GRACEConfig
from editors.ike import IKE, IKEConfig
from editors.locate.hooks import BLOCK, hooked
from editors.locate.keys import read_at_lookup
from editors.locate.requests import requests_from_cases
from editors.locate.stream import contribution, site_residual, smallest_equivalent
from editors.locate.values import ValueResult
from editors.memit import MEMIT
from editors.pmet import PMET
from editors.rome import ROME
from tests.fakes import BagOfWords
from tests.test_ike import TRAIN

# the tiny-llama files: few steps, contexts and samples (no tiny-gemma3 file: tests must not depend on one)
FAST = {"v_num_grad_steps": "4", "contexts_per_length": "1", "stats_samples": "256"}
CASE_IDS = ("c1", "c2", "c3")


def locate(cls, lm, **extra):
    hparams = cls.method_dir / "hparams" / "tiny-llama.json"
    return cls(lm, build_config(cls, {"hparams": str(hparams), **FAST, **extra}))


def rel_requests(case):
    return [Request(case, q) for q in case.of_kind(REL)]


def all_requests(case):
    return [Request(case, q) for q in case.queries]


pytestmark = pytest.mark.usefixtures("module_stats_cache")


# -- the model ------------------------------------------------------------------------------------------------


def test_tiny_gemma3_has_what_sets_gemma3_apart(tiny_gemma3):
    model, tok = tiny_gemma3.model, tiny_gemma3.tokenizer
    config = model.config
    assert tiny_gemma3.model_type == "gemma3_text"
    assert "sliding_attention" in config.layer_types and "full_attention" in config.layer_types
    assert config.sliding_window < len(tok("Spike Hughes originates from").input_ids)  # the window really masks
    assert model.lm_head.weight is model.model.embed_tokens.weight  # tied
    assert float(model.model.embed_tokens.embed_scale) == 8.0  # sqrt(hidden)
    layer = model.model.layers[0]
    assert hasattr(layer.self_attn, "q_norm") and hasattr(layer.self_attn, "k_norm")
    assert not torch.all(layer.post_feedforward_layernorm.weight == 0)  # not an identity
    ids = tok("Paris is").input_ids
    assert ids[0] == tok.bos_token_id == 2 and tok.bos_token_id not in ids[1:]
    assert tok.decode(ids, skip_special_tokens=True) == "Paris is"


def test_sliding_layers_see_only_the_window(tiny_gemma3):
    """A token further back than the window changes the sliding layers' output only through earlier layers."""
    model, tok = tiny_gemma3.model, tiny_gemma3.tokenizer
    a = tok("Paris is the capital of France.").input_ids
    b = [a[0], a[1] + 1, *a[2:]]  # another token at position 1
    site = (0, "attn")  # layer 0 is a sliding layer: its input differs only at position 1
    outs = []
    for ids in (a, b):
        with hooked(model, [site], read_outputs=True) as rec:
            model(input_ids=torch.tensor([ids]), use_cache=False)
        outs.append(rec.outputs[site][0])
    window = model.config.sliding_window
    assert not torch.allclose(outs[0][1:1 + window], outs[1][1:1 + window])
    torch.testing.assert_close(outs[0][1 + window:], outs[1][1 + window:], atol=1e-5, rtol=1e-5)


def test_architecture_table_names_the_post_norms(tiny_gemma3, tiny_llama):
    model = tiny_gemma3.model
    assert module_path(model, 2, "mlp_out") == "model.layers.2.mlp.down_proj"
    assert output_norm(model, 2, "mlp_out") is model.model.layers[2].post_feedforward_layernorm
    assert output_norm(model, 1, "o") is model.model.layers[1].post_attention_layernorm
    assert output_norm(tiny_llama.model, 1, "mlp_out") is None and output_norm(model, 1, "mlp_in") is None


# -- writing through the post-norm ------------------------------------------------------------------------------


def test_site_residual_is_the_residual_itself_without_a_post_norm(tiny_llama):
    residual = torch.randn(2, 64)
    assert site_residual(tiny_llama.model, (1, "mlp_out"), torch.randn(2, 64), residual) is residual


def test_site_residual_reaches_any_reachable_stream_contribution_exactly(tiny_gemma3):
    model, site = tiny_gemma3.model, (2, "mlp_out")
    gen = torch.Generator().manual_seed(0)
    current, other = torch.randn(3, 64, generator=gen), 5 * torch.randn(3, 64, generator=gen)
    wanted = contribution(model, site, other)  # what another output would add to the stream
    change = site_residual(model, site, current, wanted - contribution(model, site, current))
    torch.testing.assert_close(contribution(model, site, current + change), wanted, atol=1e-4, rtol=1e-4)
    zero = site_residual(model, site, current, torch.zeros_like(current))
    torch.testing.assert_close(zero, torch.zeros_like(zero), atol=1e-5, rtol=0)


def test_smallest_equivalent_keeps_the_contribution_and_moves_least(tiny_gemma3, tiny_llama):
    target = torch.randn(2, 64)
    assert smallest_equivalent(tiny_llama.model, (1, "mlp_out"), torch.randn(2, 64), target) is target
    model, site = tiny_gemma3.model, (1, "mlp_out")
    gen = torch.Generator().manual_seed(2)
    current = torch.randn(2, 64, generator=gen)
    target = current + 4 * current.norm(dim=-1, keepdim=True) * torch.randn(2, 64, generator=gen) / 8
    small = smallest_equivalent(model, site, current, target)
    torch.testing.assert_close(contribution(model, site, small), contribution(model, site, target),
                               atol=1e-5, rtol=1e-5)
    assert torch.all((small - current).norm(dim=-1) <= current.norm(dim=-1))
    assert torch.all((small - current).norm(dim=-1) < (target - current).norm(dim=-1))


def test_rome_change_is_no_larger_than_the_output_it_replaces(tiny_gemma3):
    """The bug: ROME's v* drifted to the clamp (the post-norm makes its size free) and was written that large."""
    editor = locate(ROME, tiny_gemma3, v_num_grad_steps="8")
    editor.edit([make_case()])
    site = (editor.config.layers[0], "mlp_out")
    values = editor.last_values
    assert torch.all((values.targets[site] - values.inits[site]).norm(dim=-1) <= values.inits[site].norm(dim=-1))
    editor.reset()


def test_memit_puts_a_reachable_residual_stream_target_exactly(tiny_gemma3, monkeypatch):
    """The bug: MEMIT wrote residual-stream residuals into the MLP output before Gemma's post-feedforward norm."""
    cases = [make_case(i) for i in CASE_IDS[:1]]
    editor = locate(MEMIT, tiny_gemma3, layers="2", contexts_per_length="0", mom2_update_weight="1e-6")
    site, z_site = (2, "mlp_out"), (2, BLOCK)
    requests = requests_from_cases(cases)
    _, out = read_at_lookup(editor.scorer, requests, [""], [site, z_site])
    other = 3 * torch.randn(out[site][:, 0].shape, generator=torch.Generator().manual_seed(1))
    z = out[z_site][:, 0] + contribution(tiny_gemma3.model, site, other) - contribution(
        tiny_gemma3.model, site, out[site][:, 0])

    def fixed_values(scorer, requests, contexts, sites, settings, chunk=8):
        return ValueResult({z_site: z}, {z_site: out[z_site][:, 0]}, [0], [0.0])

    monkeypatch.setattr("editors.memit.memit.optimise_values", fixed_values)
    digest = parameter_hash(tiny_gemma3.model)
    editor.edit(cases)
    _, after = read_at_lookup(editor.scorer, requests, [""], [z_site])
    torch.testing.assert_close(after[z_site][:, 0], z, atol=5e-3, rtol=1e-3)
    editor.reset()
    assert parameter_hash(tiny_gemma3.model) == digest


# -- every editor on the family: effect, inactive = base, bitwise reset ----------------------------------------


@pytest.mark.parametrize("cls,extra", [(ROME, {"mom2_adjustment": "true"}), (MEMIT, {}), (PMET, {}),
                                       (FTM, None)])
def test_weight_editors_edit_and_reset_bitwise(tiny_gemma3, cls, extra):
    model, case = tiny_gemma3.model, make_case()
    editor = FTM(tiny_gemma3, FTMConfig(lr=2e-2, num_steps=20)) if extra is None else locate(cls, tiny_gemma3, **extra)
    scorer = Scorer(model, tiny_gemma3.tokenizer)
    base = scorer.score(editor.prepare(all_requests(case)).items)
    assert [s.logprobs for s in editor.score(all_requests(case))] == [s.logprobs for s in base]
    before = fingerprint(model)
    editor.edit([case])
    assert editor.score(rel_requests(case))[0].logprob > base[0].logprob
    assert parameter_hash(model) != before.parameters
    editor.reset()
    assert fingerprint(model) == before
    assert [s.logprobs for s in editor.score(all_requests(case))] == [s.logprobs for s in base]


def test_rome_writes_v_star_through_the_post_norm(tiny_gemma3):
    editor, case = locate(ROME, tiny_gemma3), make_case()
    editor.edit([case])
    site = (editor.config.layers[0], "mlp_out")
    _, out = read_at_lookup(editor.scorer, requests_from_cases([case]), [""], [site])
    torch.testing.assert_close(out[site][0, 0], editor.last_values.targets[site][0], atol=1e-4, rtol=1e-4)
    editor.reset()


def test_grace_inactive_is_exact_and_the_edit_is_local(tiny_gemma3):
    case = make_case(target="Paris")
    editor = GRACE(tiny_gemma3, GRACEConfig(eps=0.05, n_iter=60))
    base = Scorer(tiny_gemma3.model, tiny_gemma3.tokenizer).score(editor.prepare(all_requests(case)).items)
    assert [s.logprobs for s in editor.score(all_requests(case))] == [s.logprobs for s in base]
    before = fingerprint(tiny_gemma3.model)
    editor.edit([case])
    post = editor.score(all_requests(case))
    assert post[0].logprob > base[0].logprob
    assert parameter_hash(tiny_gemma3.model) == before.parameters  # GRACE edits through a hook
    editor.reset()
    assert fingerprint(tiny_gemma3.model) == before
    assert [s.logprobs for s in editor.score(all_requests(case))] == [s.logprobs for s in base]


def test_ike_puts_the_fact_after_the_bos_and_reset_gives_the_base(tiny_gemma3, tmp_path):
    import json

    path = tmp_path / "train.json"
    path.write_text(json.dumps(TRAIN))
    encoder = BagOfWords(512)
    ike = IKE(tiny_gemma3, IKEConfig(k=2, train_set=f"easyedit:{path}"),
              Resources(encoder_name=encoder.name, _encoders={encoder.name: encoder}))
    case = make_case("c1")
    base = Scorer(tiny_gemma3.model, tiny_gemma3.tokenizer).score(ike.prepare(all_requests(case)).items)
    ike.edit([case])
    (item,) = ike.prepare(rel_requests(case)).items
    assert "New Fact: Spike Hughes originates from Philadelphia" in item.prompt
    ids = Scorer(tiny_gemma3.model, tiny_gemma3.tokenizer).encode(item).ids
    assert ids[0] == tiny_gemma3.tokenizer.bos_token_id and ids.count(tiny_gemma3.tokenizer.bos_token_id) == 1
    ike.reset()
    assert [s.logprobs for s in ike.score(all_requests(case))] == [s.logprobs for s in base]
