"""Reruns of the layers above a site (editors/locate/upper.py) give the full forward's logits on left-padded
batches, bitwise (the head applied to the last k positions only: within float32 rounding): LLaMA, GPT-2, and
Gemma-3 with its post-norms, sliding-window layers and logit soft-capping."""

from __future__ import annotations

import pytest
import torch

from bench.arch import get_module, hidden_size
from bench.scoring import Prepared, Scorer
from editors.locate.hooks import forward
from editors.locate.upper import capture, from_mlp, sequential

PROMPTS = ["Spike Hughes originates from the city of", "Rome is", "The mother tongue of Danielle Darrieux is French"]


@pytest.fixture(params=["tiny-llama", "tiny-gpt2", "tiny-gemma3"])
def lm(request, tiny_llama, tiny_gpt2, tiny_gemma3):
    return {"tiny-llama": tiny_llama, "tiny-gpt2": tiny_gpt2, "tiny-gemma3": tiny_gemma3}[request.param]


def batch_of(lm):
    scorer = Scorer(lm.model, lm.tokenizer)
    batch = scorer.collate([scorer.encode(Prepared(p)) for p in PROMPTS])
    assert len(set(batch.pad)) == 3 and batch.input_ids.shape[1] > 4  # left padding; longer than Gemma's window
    return batch


@pytest.mark.parametrize("layer", [0, 2, 3])
def test_rerun_from_an_mlp_equals_the_full_forward(lm, layer):
    batch = batch_of(lm)
    with torch.no_grad():
        full = forward(lm.model, batch)
        rerun = from_mlp(lm.model, batch, layer)
        assert len(rerun.upper.calls) == 3 - layer
        assert torch.equal(rerun.logits(), full)
        # the head on the last 2 positions only: a matmul of another shape, whose BLAS kernel may round differently
        torch.testing.assert_close(rerun.logits(2), full[:, -2:], rtol=1e-5, atol=1e-6)


def test_a_change_inside_the_mlp_reaches_the_logits_as_in_the_full_forward(lm):
    """A forward hook on the MLP's output projection (how WISE adds its side memory) acts in the rerun too."""
    batch = batch_of(lm)
    module = get_module(lm.model, 1, "mlp_out")
    torch.manual_seed(0)
    shift = torch.randn(hidden_size(lm.model))
    handle = module.register_forward_hook(lambda _m, _a, out: out + shift)
    try:
        with torch.no_grad():
            full, rerun = forward(lm.model, batch), from_mlp(lm.model, batch, 1).logits()
    finally:
        handle.remove()
    assert (full - forward(lm.model, batch)).abs().max() > 1e-3  # the change matters
    assert torch.equal(rerun, full)


def test_gemma_logit_softcapping_is_applied(tiny_gemma3, monkeypatch):
    monkeypatch.setattr(tiny_gemma3.model.config, "final_logit_softcapping", 2.0)
    batch = batch_of(tiny_gemma3)
    with torch.no_grad():
        full = forward(tiny_gemma3.model, batch)
        upper, _ = capture(tiny_gemma3.model, batch, 4)
        assert full.abs().max() < 2.0 and not upper.calls
        assert torch.equal(from_mlp(tiny_gemma3.model, batch, 2).logits(), full)


def test_sequential_blocks():
    class Model:
        def __init__(self, model_type):
            self.config = type("C", (), {"model_type": model_type})()

    assert sequential(Model("llama")) and sequential(Model("gemma3_text")) and sequential(Model("gpt2"))
    assert not sequential(Model("gptj"))  # the MLP reads the block's input beside the attention
