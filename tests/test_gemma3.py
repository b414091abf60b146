"""The Gemma-3 family on `tiny-gemma3`: its layout, the post-norms the locate-and-edit methods must write
through, and every editor on this family (edits take effect, inactive editors give base logits, reset is bitwise),
including InstructEd's prefixes in sliding-window layers (the window holds for tokens, prefixes stay visible)."""

from __future__ import annotations

import pytest
import torch
from conftest import make_case

from bench.arch import get_module, module_path, output_norm
from bench.data.schema import GEN, HOP, LOC, REL, Query
from bench.editor import Request, Resources
from bench.registry import build_config
from bench.restore import fingerprint, parameter_hash
from bench.scoring import Encoded, Prepared, Scorer
from editors.alphaedit import AlphaEdit
from editors.emmet import EMMET
from editors.ft import FTL, FTM, FTLConfig, FTMConfig, edit_layers
from editors.grace import GRACE, GRACEConfig
from editors.ike import IKE, IKEConfig
from editors.ike.demos import fact_block
from editors.instructed import InstructEd, InstructEdConfig
from editors.instructed.attention import forward_context
from editors.instructed.instructions import Spanner, format_prompt
from editors.instructed.prefix import PrefixBank
from editors.instructed.testing import fixture_cases, greedy_without_cache, make_checkpoint, resources
from editors.locate.hooks import BLOCK, hooked
from editors.locate.keys import read_at_lookup
from editors.locate.requests import requests_from_cases
from editors.locate.stream import contribution, site_residual, smallest_equivalent
from editors.locate.values import ValueResult
from editors.lora import LoRA, LoRAConfig, target_modules
from editors.mello import MeLLo, MeLLoConfig
from editors.mello.loop import STOP_PATTERNS, start_transcript
from editors.memit import MEMIT
from editors.pmet import PMET
from editors.r_rome import RROME
from editors.rome import ROME
from editors.serac_icl import SERACICL, SERACICLConfig
from tests.fakes import BagOfWords
from tests.test_ike import TRAIN
from tests.test_mello import PROMPT as MELLO_PROMPT
from tests.test_mello import mquake_case
from tests.test_serac_icl import trained_checkpoint

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
                                       (RROME, {}), (EMMET, {}), (AlphaEdit, {}), (FTM, None)])
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


def base_scores(lm, items):
    return Scorer(lm.model, lm.tokenizer).score(items)


def logprobs(scores):
    return [s.logprobs for s in scores]


def test_ftl_stays_in_its_ball_on_one_weight_and_resets_bitwise(tiny_gemma3):
    model, case, eps = tiny_gemma3.model, make_case(), 0.1
    editor = FTL(tiny_gemma3, FTLConfig(lr=1e-2, norm_constraint=eps))
    base = base_scores(tiny_gemma3, editor.prepare(all_requests(case)).items)
    assert logprobs(editor.score(all_requests(case))) == logprobs(base)
    weight = get_module(model, edit_layers(model, editor.config)[0], "mlp_out").weight
    w0, others = weight.detach().clone(), {n: p.detach().clone() for n, p in model.named_parameters()}
    before = fingerprint(model)
    editor.edit([case])
    (after,) = editor.score(rel_requests(case))
    # 'prompt_last' trains all targets at the last prompt token: the first one rises (by 0.2; the post-feedforward
    # norm bounds what layer 3's MLP can add, so the loss plateaus at 6.1 from 6.3 whatever the ball)
    assert after.logprobs[0] > base[0].logprobs[0] + 0.1
    assert editor.last_losses[-1] < editor.last_losses[0] - 0.1
    assert eps / 2 < (weight.detach() - w0).abs().max().item() <= eps * (1 + 1e-5)
    assert [n for n, p in model.named_parameters() if not torch.equal(p, others[n])] == [
        f"model.layers.{edit_layers(model, editor.config)[0]}.mlp.down_proj.weight"]
    editor.reset()
    assert fingerprint(model) == before
    assert logprobs(editor.score(all_requests(case))) == logprobs(base)


def test_lora_wraps_the_gemma_projections_learns_and_unloads_bitwise(tiny_gemma3):
    model, case = tiny_gemma3.model, make_case()
    assert target_modules(model, "q,v", [1]) == ["model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"]
    editor = LoRA(tiny_gemma3, LoRAConfig(num_steps=15, early_stop_loss=0.0))
    base = base_scores(tiny_gemma3, editor.prepare(all_requests(case)).items)
    assert logprobs(editor.score(all_requests(case))) == logprobs(base)
    before = fingerprint(model)
    editor.edit([case])
    assert editor.last_losses[-1] < editor.last_losses[0]
    assert editor.score(rel_requests(case))[0].logprob > base[0].logprob + 1.0
    assert parameter_hash(model) != before.parameters  # the adapters are part of the model while edited
    editor.reset()
    assert fingerprint(model) == before  # modules, hooks, requires_grad and bits all back
    assert logprobs(editor.score(all_requests(case))) == logprobs(base)


# -- the editors that condition the unchanged model: SERAC, MeLLo, InstructEd ------------------------------------


@pytest.fixture(scope="module")
def serac_checkpoint(tmp_path_factory):
    return trained_checkpoint(tmp_path_factory.mktemp("serac"))


def test_serac_routes_in_scope_queries_to_the_fact_and_the_rest_is_the_base_model(tiny_gemma3, serac_checkpoint):
    encoder = BagOfWords()
    serac = SERACICL(tiny_gemma3, SERACICLConfig(checkpoint=str(serac_checkpoint)),
                  Resources(_encoders={encoder.name: encoder}))
    case = make_case("c1", "Spike Hughes", "Paris")
    case.queries = [q for q in case.queries if q.kind in (REL, LOC)] + [
        Query(GEN, "What is the birthplace of Spike Hughes?", "Paris")]
    requests = [Request(case, q) for q in case.queries]
    base = base_scores(tiny_gemma3, [Prepared(q.prompt, q.answer) for q in case.queries])
    assert logprobs(serac.score(requests)) == logprobs(base) and serac.prepare(requests).fired == [False] * 4
    before = fingerprint(tiny_gemma3.model)
    serac.edit([case])
    prepared = serac.prepare(requests)
    assert prepared.fired == [True, False, False, True]
    assert prepared.prompts[0] == fact_block(case.edits[0].sentence, case.queries[0].prompt)
    ids = Scorer(tiny_gemma3.model, tiny_gemma3.tokenizer).encode(prepared.items[0]).ids
    assert ids.count(tiny_gemma3.tokenizer.bos_token_id) == 1 and ids[0] == tiny_gemma3.tokenizer.bos_token_id
    post = serac.score(requests)
    for fired, b, a in zip(prepared.fired, base, post):  # out of scope: the base model (in a padded batch)
        assert torch.allclose(torch.tensor(a.logprobs), torch.tensor(b.logprobs), atol=1e-5) != fired
    assert fingerprint(tiny_gemma3.model) == before  # SERAC never touches the model
    serac.reset()
    assert logprobs(serac.score(requests)) == logprobs(base) and serac.prepare(requests).fired == [False] * 4


def make_mello(lm, tmp_path, **kw) -> MeLLo:
    prompt = tmp_path / "mello.txt"
    prompt.write_text(MELLO_PROMPT)
    encoder = BagOfWords()
    return MeLLo(lm, MeLLoConfig(prompt_file=str(prompt), **kw),
                 Resources(encoder_name=encoder.name, _encoders={encoder.name: encoder}))


def test_mello_scores_condition_on_the_nearest_edit_and_reset_gives_the_base(tiny_gemma3, tmp_path):
    mello, case = make_mello(tiny_gemma3, tmp_path, score_facts=1), mquake_case()
    requests = [Request(case, q) for q in case.queries]
    base = base_scores(tiny_gemma3, [Prepared(q.prompt, q.answer) for q in case.queries])
    assert logprobs(mello.score(requests)) == logprobs(base)
    mello.edit([case])
    hop = requests[[q.kind for q in case.queries].index(HOP)]
    assert mello.prepare([hop]).prompts[0] == fact_block(case.edits[0].sentence, hop.query.prompt)
    (conditioned,) = mello.score([hop])
    assert conditioned.logprobs != base[requests.index(hop)].logprobs
    mello.reset()
    assert mello.prepare([hop]).prompts == [hop.query.prompt]
    assert logprobs(mello.score(requests)) == logprobs(base)


def test_mello_lm_calls_on_sliding_windows_are_each_transcript_alone(tiny_gemma3, tmp_path):
    """The bug: MeLLo ran its few-shot prompt once and generated a left-padded batch behind that cache; on a
    sliding-window model the pads between the cached prompt and a shorter transcript take window slots, so that
    transcript's next-token logits were not the model's (off by 0.78 here; the greedy text hid it by chance)."""
    mello, case = make_mello(tiny_gemma3, tmp_path, max_new_tokens=4), mquake_case()
    transcripts = [start_transcript(MELLO_PROMPT, case.queries[1].prompt),  # longest first: the batch's order
                   start_transcript(MELLO_PROMPT, "Who is Toko?")]  # 24 tokens shorter: 24 pads
    assert len(mello.tokenizer(transcripts[0]).input_ids) == len(mello.tokenizer(transcripts[1]).input_ids) + 24
    seen = []  # the last position's logits of every forward call
    handle = tiny_gemma3.model.lm_head.register_forward_hook(lambda _m, _a, out: seen.append(out[:, -1].clone()))
    try:
        together = mello._lm(transcripts)
        prompt_step = next(s for s in seen if s.shape[0] == 2)  # the batch's first step (after the prompt's own)
        alone = []
        for row, transcript in enumerate(transcripts):
            seen.clear()
            alone += mello.scorer.generate([Prepared(transcript)], 4, stop_at_newline=False, stop=STOP_PATTERNS)
            torch.testing.assert_close(prompt_step[row], seen[0][0], atol=1e-5, rtol=1e-5)
    finally:
        handle.remove()
    assert together == alone


# -- InstructEd ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def instructed_checkpoint(tiny_gemma3, tmp_path_factory):
    path = tmp_path_factory.mktemp("instructed-gemma3")
    make_checkpoint(tiny_gemma3, path, [1, 2])  # untrained random prefixes in two sliding-window layers
    return path


def instructed(lm, checkpoint, **kw) -> InstructEd:
    return InstructEd(lm, InstructEdConfig(checkpoint=str(checkpoint), **kw), resources())


def fixture_requests(cases):
    return [Request(c, q) for c in cases for q in c.queries]


def test_instructed_gold_instructs_edited_cases_only_and_reset_is_exact(tiny_gemma3, instructed_checkpoint):
    ed = instructed(tiny_gemma3, instructed_checkpoint)
    assert ed.bank.layers == [1, 2] and all(tiny_gemma3.model.config.layer_types[i] == "sliding_attention"
                                            for i in ed.bank.layers)
    cases = fixture_cases()
    reqs = fixture_requests(cases)
    base = base_scores(tiny_gemma3, [Prepared(r.query.prompt, r.query.answer) for r in reqs])
    assert logprobs(ed.score(reqs)) == logprobs(base)  # nothing edited: the base model bitwise
    before = fingerprint(tiny_gemma3.model)
    ed.edit(cases[:1])
    prepared = ed.prepare(reqs)
    assert prepared.fired == [r.case is cases[0] for r in reqs]
    assert prepared.prompts[0] == format_prompt(cases[0].instruction, reqs[0].query.prompt)
    for r, s, b in zip(reqs, ed.score(reqs), base):  # plain rows in an instructed batch: the base model
        assert torch.allclose(torch.tensor(s.logprobs), torch.tensor(b.logprobs), atol=1e-5) != (r.case is cases[0])
    mixed = [reqs[0], reqs[-1]]  # an instructed and a plain row: generation with sliding-window caches
    items = ed.prepare(mixed).items
    assert ed.generate(mixed, 5) == [
        greedy_without_cache(tiny_gemma3, ed.scorer, it, ed.forward_context, 5) for it in items]
    assert fingerprint(tiny_gemma3.model) == before
    ed.reset()
    assert logprobs(ed.score(reqs)) == logprobs(base)
    assert tiny_gemma3.model.config._attn_implementation == "sdpa"


def test_instructed_retrieval_fires_for_related_queries_and_reset_is_exact(tiny_gemma3, instructed_checkpoint):
    ed = instructed(tiny_gemma3, instructed_checkpoint, mode="retrieval", retrieval_fill=0.0)
    first, second, _ = fixture_cases()
    reqs = [Request(first, first.queries[0]), Request(second, second.queries[0]),
            Request(first, Query(LOC, "Berlin is in", "Germany"))]
    base = base_scores(tiny_gemma3, [Prepared(r.query.prompt, r.query.answer) for r in reqs])
    assert ed.prepare(reqs).fired == [False] * 3 and logprobs(ed.score(reqs)) == logprobs(base)
    ed.edit([first])
    prepared = ed.prepare(reqs)
    assert prepared.fired == [True, False, False]
    assert prepared.prompts[0] == format_prompt(first.edits[0].sentence, reqs[0].query.prompt)
    post = ed.score(reqs)
    assert post[0].logprobs != base[0].logprobs
    for a, b in zip(post[1:], base[1:]):  # not fired: the base model (in a batch with an instructed row)
        assert torch.allclose(torch.tensor(a.logprobs), torch.tensor(b.logprobs), atol=1e-5)
    ed.edit([second])  # sequential: the memory grows
    assert ed.prepare(reqs).fired == [True, True, False]
    ed.reset()
    assert ed.prepare(reqs).fired == [False] * 3 and logprobs(ed.score(reqs)) == logprobs(base)


def test_instructed_without_prefix_or_with_zero_prefixes_keeps_the_base_model(tiny_gemma3, instructed_checkpoint):
    """Switched off (no prefix, no re-weighting): the instructed prompt scores as the base model scores it.
    Zero prefixes: rows without an instruction are the base model; an instructed row is not, because a zero
    prefix is a key of score 0 with a zero value, which still takes a share of the softmax (no gate)."""
    cases = fixture_cases()
    reqs = fixture_requests(cases)
    off = InstructEd(tiny_gemma3, InstructEdConfig(prefix=False, reweight=False), resources())
    off.edit(cases[:1])
    items = off.prepare(reqs).items
    assert items[0].meta is not None
    for a, b in zip(off.score(reqs), base_scores(tiny_gemma3, items)):
        assert torch.allclose(torch.tensor(a.logprobs), torch.tensor(b.logprobs), atol=1e-5)

    with pytest.warns(UserWarning, match="trained with reweight=True"):
        zero = instructed(tiny_gemma3, instructed_checkpoint, reweight=False)
    for p in zero.bank.parameters():
        p.data.zero_()
    plain = base_scores(tiny_gemma3, [Prepared(r.query.prompt, r.query.answer) for r in reqs])
    assert logprobs(zero.score(reqs)) == logprobs(plain)  # nothing edited
    zero.edit(cases[:1])
    items = zero.prepare(reqs).items
    same_prompt = base_scores(tiny_gemma3, items)
    for r, a, b in zip(reqs, zero.score(reqs), same_prompt):
        assert torch.allclose(torch.tensor(a.logprobs), torch.tensor(b.logprobs), atol=1e-5) != (r.case is cases[0])


def layer_attention(lm, encoded, bank, layer):
    scorer = Scorer(lm.model, lm.tokenizer)
    site = (layer, "attn")
    with hooked(lm.model, [site], read_outputs=True) as rec:
        scorer.logits(scorer.collate([encoded]), forward_context(lm.model, bank, True, False))
    return rec.outputs[site][0]


def test_instructed_prefixes_in_a_sliding_layer_keep_its_window_and_reach_every_position(tiny_gemma3):
    """Layer 0 slides (window 4) and carries prefixes. Tokens: a token further back than the window leaves the
    layer's output unchanged (the prefixes' extra key columns do not widen the window). Prefixes: keys
    without a position (prefix tuning prepends them to every query), so every position attends to them,
    positions far past the window included; they are not placed before position 0 inside the window."""
    model, tok = tiny_gemma3.model, tiny_gemma3.tokenizer
    assert model.config.layer_types[0] == "sliding_attention"
    window = model.config.sliding_window
    instruction, question = "Spike Hughes originates from Paris.", "Spike Hughes was born in the city of"
    ids = tok(format_prompt(instruction, question)).input_ids
    meta = Spanner(tok).meta(instruction, question, 0.6)
    assert meta.ins_end < len(ids) - window  # positions beyond the window of the changed token 1
    a = Encoded(ids, len(ids), meta)
    b = Encoded([ids[0], ids[1] + 1, *ids[2:]], len(ids), meta)  # another token at position 1
    bank = PrefixBank.for_model(model, [0], n_prefix=3, seed=3, relative_scale=1.0)
    out_a, out_b = layer_attention(tiny_gemma3, a, bank, 0), layer_attention(tiny_gemma3, b, bank, 0)
    for pos in range(1, 1 + window):
        assert not torch.allclose(out_a[pos], out_b[pos], atol=1e-4)
    torch.testing.assert_close(out_a[1 + window:], out_b[1 + window:], atol=1e-5, rtol=1e-5)

    other = PrefixBank.for_model(model, [0], n_prefix=3, seed=4, relative_scale=1.0)
    out_other, out_none = layer_attention(tiny_gemma3, a, other, 0), layer_attention(tiny_gemma3, a, None, 0)
    for pos in range(len(ids)):  # other prefixes, or none: every position's output changes
        assert not torch.allclose(out_a[pos], out_other[pos], atol=1e-4), pos
        assert not torch.allclose(out_a[pos], out_none[pos], atol=1e-4), pos
