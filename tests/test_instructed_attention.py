"""InstructEd's attention: exactness against the base model, Eq. 15 against a literal reference, batching,
generation with a KV cache, gradients."""

from __future__ import annotations

import pytest
import torch

from bench.arch import arch_of, get_module, head_counts
from bench.scoring import Prepared, Scorer
from editors.instructed.attention import ForwardState, _causal, forward_context
from editors.instructed.instructions import Spanner, format_prompt
from editors.instructed.prefix import PrefixBank
from editors.instructed.testing import greedy_without_cache, tiny_lm

ITEMS = [  # instruction, question, answer, sim
    ("Danielle Darrieux speaks English.", "The mother tongue of Danielle Darrieux is", "English", 0.8),
    ("Toko Yasuda plays the piano.", "John Lennon performs on the", "guitar", 0.3),
    ("", "Rome is the capital of", "Italy", 1.0),
    ("Paris is the capital of Italy.", "Which city is the capital of Italy?", "Paris", 0.55),
]


@pytest.fixture(scope="module", params=["tiny-llama", "tiny-gpt2"])
def lm(request):
    return tiny_lm(request.param)


@pytest.fixture(scope="module")
def bank(lm):
    return PrefixBank.for_model(lm.model, [1, 2], n_prefix=3, seed=1)


def prepared(lm, items=ITEMS) -> list[Prepared]:
    spanner = Spanner(lm.tokenizer)
    return [Prepared(format_prompt(i, q), a, spanner.meta(i, q, s) if i else None) for i, q, a, s in items]


def one_batch(lm, items=ITEMS):
    scorer = Scorer(lm.model, lm.tokenizer)
    encoded = [scorer.encode(p) for p in prepared(lm, items)]
    rows, batch = next(scorer.batches(encoded))
    return scorer, encoded, rows, batch


def test_rows_without_instruction_are_the_base_model_bitwise(lm, bank):
    scorer, _, _, batch = one_batch(lm, [("", q, a, 1.0) for _, q, a, _ in ITEMS])
    base = scorer.logits(batch)
    assert torch.equal(scorer.logits(batch, forward_context(lm.model, bank, True, False)), base)
    assert lm.model.config._attn_implementation == "sdpa"


def test_without_prefix_and_reweight_it_is_the_base_model_on_the_same_prompt(lm):
    scorer, _, _, batch = one_batch(lm)
    base = scorer.logits(batch)
    same = scorer.logits(batch, forward_context(lm.model, None, False, False))
    assert torch.allclose(same, base, atol=1e-5)
    assert lm.model.config._attn_implementation == "sdpa"  # restored after the context


@pytest.mark.parametrize("paper", [False, True])
def test_batched_equals_one_at_a_time(lm, bank, paper):
    scorer, encoded, rows, batch = one_batch(lm)
    context = forward_context(lm.model, bank, True, paper)
    together = scorer.logits(batch, context)
    base = scorer.logits(batch)
    for r, i in enumerate(rows):
        n = len(encoded[i].ids)
        alone = scorer.logits(scorer.collate([encoded[i]]), context)[0]
        assert torch.allclose(together[r, -n:], alone, atol=1e-5)
        if ITEMS[i][0] == "":  # a plain row inside an instructed batch stays the base model
            assert torch.allclose(together[r, -n:], base[r, -n:], atol=1e-5)
        else:
            assert not torch.allclose(together[r, -n:], base[r, -n:], atol=1e-3)


def test_similarity_one_is_no_reweighting(lm, bank):
    items = [(i, q, a, 1.0) for i, q, a, _ in ITEMS]
    scorer, _, _, batch = one_batch(lm, items)
    with_sim = scorer.logits(batch, forward_context(lm.model, bank, True, False))
    without = scorer.logits(batch, forward_context(lm.model, bank, False, False))
    assert torch.allclose(with_sim, without, atol=1e-5)
    scorer, _, _, batch = one_batch(lm)
    assert not torch.allclose(scorer.logits(batch, forward_context(lm.model, bank, True, False)), without,
                              atol=1e-3)


def _repeat(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    return x.repeat_interleave(n_heads // x.shape[1], dim=1)


@pytest.mark.parametrize("paper", [False, True])
def test_attention_matches_a_literal_eq15_reference(lm, bank, paper):
    """Scores of prefix + instruction columns (strict) or of the instruction rows (paper) times sim."""
    layer, (n_heads, n_kv, head_dim) = 1, head_counts(lm.model)
    module = get_module(lm.model, layer, "attn")
    gen = torch.Generator().manual_seed(0)
    batch, length, pad = 2, 9, 2
    q = torch.randn(batch, n_heads, length, head_dim, generator=gen)
    k, v = (torch.randn(batch, n_kv, length, head_dim, generator=gen) for _ in range(2))
    mask = _causal(batch, length, length, "cpu").clone()
    mask[1, :, :, :pad] = False  # row 1 is left-padded by 2
    sim = torch.tensor([0.4, 0.7])
    state = ForwardState(
        bank=bank, arch=arch_of(lm.model), heads=(n_heads, n_kv, head_dim), use=torch.tensor([True, True]),
        sim=sim, ins_start=torch.tensor([1, pad + 1]), ins_end=torch.tensor([5, pad + 4]),
        row_start=torch.tensor([0, pad]), paper_end=torch.tensor([3, pad + 2]), total=length, reweight=True,
        rows=paper)
    got, _ = state.attend(module, q, k, v, mask, dropout=0.0, scaling=head_dim**-0.5)

    pk, pv = bank.prefix_kv(module, arch_of(lm.model), layer, (n_heads, n_kv, head_dim))
    n_p = pk.shape[2]
    keys = _repeat(torch.cat([pk.expand(batch, -1, -1, -1), k], 2), n_heads)
    values = _repeat(torch.cat([pv.expand(batch, -1, -1, -1), v], 2), n_heads)
    scores = q @ keys.transpose(-1, -2) * head_dim**-0.5
    for b in range(batch):
        if paper:
            rows = slice(int(state.row_start[b]), int(state.paper_end[b]) + n_p)
            scores[b, :, rows, :] *= sim[b]
        else:
            scores[b, :, :, :n_p] *= sim[b]
            scores[b, :, :, n_p + int(state.ins_start[b]):n_p + int(state.ins_end[b])] *= sim[b]
    full_mask = torch.cat([torch.ones(batch, 1, length, n_p, dtype=torch.bool), mask], -1)
    scores = scores.masked_fill(~full_mask, float("-inf"))
    expected = (scores.softmax(-1) @ values).transpose(1, 2)
    real = slice(pad, None)  # padded query rows are irrelevant
    assert torch.allclose(got[1, real], expected[1, real], atol=1e-5)
    assert torch.allclose(got[0], expected[0], atol=1e-5)


def test_generation_with_cache_matches_recomputation(lm, bank):
    scorer = Scorer(lm.model, lm.tokenizer)
    items = prepared(lm)
    context = forward_context(lm.model, bank, True, False)
    cached = scorer.generate(items, max_new_tokens=5, context=context, stop_at_newline=False)
    assert cached == [greedy_without_cache(lm, scorer, it, context, 5) for it in items]


def test_only_the_prefixes_get_gradients(lm, bank):
    scorer, encoded, rows, batch = one_batch(lm)
    with torch.enable_grad():
        logits = scorer.logits(batch, forward_context(lm.model, bank, True, False))
        logits.float().logsumexp(-1).sum().backward()
    grads = [p.grad for p in bank.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    assert all(p.grad is None for p in lm.model.parameters())
    bank.zero_grad(set_to_none=True)


def test_ffn_variant_adds_an_adapter_only_to_instructed_rows(lm):
    ffn = PrefixBank.for_model(lm.model, [1, 2], variant="ffn", seed=2)
    for p in ffn.up.values():
        torch.nn.init.normal_(p, std=0.1)
    scorer, encoded, rows, batch = one_batch(lm)
    base = scorer.logits(batch, forward_context(lm.model, None, True, False))
    with torch.enable_grad():
        out = scorer.logits(batch, forward_context(lm.model, ffn, True, False))
        out.float().logsumexp(-1).sum().backward()
    assert all(p.grad is not None for p in ffn.parameters())
    for r, i in enumerate(rows):
        n = len(encoded[i].ids)
        changed = not torch.allclose(out[r, -n:].detach(), base[r, -n:], atol=1e-4)
        assert changed == (ITEMS[i][0] != "")
    assert not get_module(lm.model, 1, "mlp")._forward_hooks  # hooks removed after the context


@pytest.mark.integration
def test_smollm2_inactive_and_plain_are_the_base_model_and_batching_is_exact():
    lm = tiny_lm("smollm2-135m")
    bank = PrefixBank.for_model(lm.model, [9, 10, 11], seed=1)
    scorer, encoded, rows, batch = one_batch(lm)
    base = scorer.logits(batch)
    plain = forward_context(lm.model, bank, True, False)
    _, _, _, plain_batch = one_batch(lm, [("", q, a, 1.0) for _, q, a, _ in ITEMS])
    assert torch.equal(scorer.logits(plain_batch, plain), scorer.logits(plain_batch))
    assert torch.allclose(scorer.logits(batch, forward_context(lm.model, None, False, False)), base, atol=1e-5)
    together = scorer.logits(batch, plain)
    for r, i in enumerate(rows):
        n = len(encoded[i].ids)
        # float32 summation order differs between a padded batch and one row, more so with 2 threads than one
        # (up to 1.1e-4 on logits of magnitude ~17 here): a wrong mask or position would differ by whole units
        assert torch.allclose(together[r, -n:], scorer.logits(scorer.collate([encoded[i]]), plain)[0], atol=3e-4)


def without_bos(tokenizer):
    """A copy of `tokenizer` that adds no BOS (like SmolLM2's), so token 0 is the first instruction token."""
    import copy

    from tokenizers import processors

    tok = copy.deepcopy(tokenizer)
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(single="$A", pair="$A $B")
    assert tok("").input_ids == [] and tok("Rome").input_ids
    return tok


@pytest.mark.parametrize("paper", [False, True])
def test_the_attention_sink_of_a_bos_less_tokenizer_is_never_scaled(lm, bank, paper):
    """Token 0 (the attention sink) keeps scale 1 in every row, in both variants: columns (strict) and query
    rows (compat=paper); the rest of the instruction is scaled by sim. keep_sink=False is the old behaviour."""
    tok = without_bos(lm.tokenizer)
    scorer = Scorer(lm.model, tok)
    items = [item for item in ITEMS if item[0]]
    for keep, sink_scale in ((True, 1.0), (False, None)):
        spanner = Spanner(tok, keep_sink=keep)
        encoded = [scorer.encode(Prepared(format_prompt(i, q), a, spanner.meta(i, q, s))) for i, q, a, s in items]
        rows, batch = next(scorer.batches(encoded))
        state = ForwardState.from_batch(batch, lm.model, bank, reweight=True, rows=paper)
        total = batch.input_ids.shape[1]
        sim = state.sim[:, None]
        scale = state._row_scale(sim, total, prefixed=True) if paper else state._col_scale(sim, total)
        for r, i in enumerate(rows):
            first = batch.pad[r]  # the row's position 0 (after its left padding)
            expected = items[i][3] if sink_scale is None else sink_scale
            assert float(scale[r, first]) == pytest.approx(expected), (keep, r)
            assert float(scale[r, first + 1]) == pytest.approx(items[i][3])  # the next instruction token is scaled


def test_keeping_the_sink_changes_nothing_when_the_tokenizer_has_a_bos(lm):
    """With a BOS (tiny-llama) the instruction already starts after it: both settings give the same span."""
    items = [(i, q, s) for i, q, _, s in ITEMS if i]
    kept, scaled = Spanner(lm.tokenizer, keep_sink=True), Spanner(lm.tokenizer, keep_sink=False)
    same = all(kept.meta(*it) == scaled.meta(*it) for it in items)
    assert same == bool(lm.tokenizer("").input_ids)
