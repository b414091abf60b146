"""Hooks read and replace module inputs/outputs; an overlay equals editing the weight."""

from __future__ import annotations

import torch

from bench.arch import arch_of, get_module
from bench.scoring import Prepared, Scorer
from editors.locate.hooks import BLOCK, forward, hooked, overlay


def _batch(lm):
    scorer = Scorer(lm.model, lm.tokenizer)
    return scorer.collate([scorer.encode(Prepared(t)) for t in ["The cat is", "Paris is the capital of"]])


def test_read_input_and_output_match_the_module(tiny_lm):
    batch, site = _batch(tiny_lm), (1, "mlp_out")
    with hooked(tiny_lm.model, [site], read_inputs=True, read_outputs=True) as rec:
        forward(tiny_lm.model, batch)
    module = get_module(tiny_lm.model, 1, "mlp_out")
    torch.testing.assert_close(module(rec.inputs[site]), rec.outputs[site])


def test_edit_output_changes_logits_and_hooks_are_removed(tiny_lm):
    model, batch = tiny_lm.model, _batch(tiny_lm)
    base = forward(model, batch)
    with hooked(model, [(2, BLOCK)], edit_output=lambda site, out: out * 0):
        zeroed = forward(model, batch)
    assert not torch.allclose(base, zeroed)
    assert torch.equal(forward(model, batch), base)


def test_stop_after_ends_the_forward(tiny_lm):
    with hooked(tiny_lm.model, [(0, "mlp_out")], read_outputs=True, stop_after=(0, "mlp_out")) as rec:
        assert forward(tiny_lm.model, _batch(tiny_lm)) is None
    assert (0, "mlp_out") in rec.outputs


def test_overlay_equals_weight_edit(tiny_lm):
    """Deltas are (out, in) also for GPT-2's Conv1D, whose weight is stored (in, out)."""
    model, batch, site = tiny_lm.model, _batch(tiny_lm), (1, "mlp_out")
    weight = get_module(model, *site).weight
    out_in = weight.T if arch_of(model).conv1d else weight
    delta = torch.randn(out_in.shape, generator=torch.Generator().manual_seed(0)) * 0.05
    with overlay(model, {site: delta}):
        overlaid = forward(model, batch)
    original = weight.detach().clone()
    with torch.no_grad():
        weight += delta.T if arch_of(model).conv1d else delta
    try:
        torch.testing.assert_close(forward(model, batch), overlaid, atol=1e-5, rtol=1e-4)
    finally:
        with torch.no_grad():
            weight.copy_(original)
