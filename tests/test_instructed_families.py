"""InstructEd's attention on the other LLaMA-family layouts (Qwen2 biases, Mistral, Gemma 3 qk-norm and
sliding windows), with tiny random models: exact base behaviour, batching, generation with a cache.
`tiny-gemma3` adds Gemma's own BOS tokenizer and a window shorter than the prompts."""

from __future__ import annotations

import pytest
import torch

from bench.scoring import Prepared, Scorer
from editors.instructed.attention import forward_context
from editors.instructed.instructions import Spanner, format_prompt
from editors.instructed.prefix import PrefixBank
from editors.instructed.testing import greedy_without_cache, tiny_family_lm, tiny_lm

ITEMS = [("Toko Yasuda plays the piano.", "Toko Yasuda performs on the", "piano", 0.3),
         ("", "Rome is the capital of", "Italy", 1.0),
         ("Paris is the capital of Italy and the largest city of the country.", "The capital of Italy is",
          "Paris", 0.2)]


@pytest.fixture(scope="module", params=["qwen2", "mistral", "gemma3_text", "tiny-gemma3"])
def lm(request):
    return tiny_lm(request.param) if request.param.startswith("tiny-") else tiny_family_lm(request.param)


def test_exactness_batching_and_generation(lm):
    spanner, scorer = Spanner(lm.tokenizer), Scorer(lm.model, lm.tokenizer)
    items = [Prepared(format_prompt(i, q), a, spanner.meta(i, q, s) if i else None) for i, q, a, s in ITEMS]
    encoded = [scorer.encode(it) for it in items]
    rows, batch = next(scorer.batches(encoded))
    base = scorer.logits(batch)
    assert torch.allclose(scorer.logits(batch, forward_context(lm.model, None, False, False)), base, atol=1e-5)
    bank = PrefixBank.for_model(lm.model, [1, 2], relative_scale=1.0)
    context = forward_context(lm.model, bank, True, False)
    together = scorer.logits(batch, context)
    for r, i in enumerate(rows):
        n = len(encoded[i].ids)
        alone = scorer.logits(scorer.collate([encoded[i]]), context)[0]
        assert torch.allclose(together[r, -n:], alone, atol=1e-5)
        assert torch.allclose(together[r, -n:], base[r, -n:], atol=1e-5) == (ITEMS[i][0] == "")
    for paper in (False, True):  # Gemma 3's sliding-window cache hands over only its most recent keys
        context = forward_context(lm.model, bank, True, paper)
        texts = scorer.generate(items, max_new_tokens=6, context=context, stop_at_newline=False)
        assert texts == [greedy_without_cache(lm, scorer, it, context, 6) for it in items]
