"""Target value optimisation: lowers the loss, respects the clamp, batched equals one at a time."""

from __future__ import annotations

import contextlib

import pytest
import torch

from bench.scoring import Scorer
from editors.locate.hooks import BLOCK, EMBED, overlay, site_module
from editors.locate.requests import EditRequest
from editors.locate.values import ValueSettings, optimise_values

REQS = [EditRequest("Toko Yasuda plays the", "Toko Yasuda", "piano", "Toko Yasuda"),
        EditRequest("Spike Hughes originates from", "Spike Hughes", "Paris", "Spike Hughes")]
CONTEXTS = ["", "The cat. "]


def test_loss_decreases_and_clamp_holds(tiny_lm):
    scorer, site = Scorer(tiny_lm.model, tiny_lm.tokenizer), (1, "mlp_out")
    one_step = optimise_values(scorer, REQS[:1], CONTEXTS, [site], ValueSettings(1, 0.5, 0.0, 0.0625, 1e4))
    many = optimise_values(scorer, REQS[:1], CONTEXTS, [site], ValueSettings(6, 0.5, 0.0, 0.0625, 1e4))
    assert many.losses[0] < one_step.losses[0]
    clamped = optimise_values(scorer, REQS[:1], CONTEXTS, [site], ValueSettings(6, 0.5, 0.0, 0.0625, 0.5))
    shift = (clamped.targets[site] - clamped.inits[site]).norm()
    assert shift <= 0.5 * clamped.inits[site].norm() * (1 + 1e-5)
    assert not any(p.grad is not None for p in tiny_lm.model.parameters())


def test_batched_equals_one_at_a_time(tiny_lm):
    scorer = Scorer(tiny_lm.model, tiny_lm.tokenizer)
    sites = [(2, "o"), (2, "mlp_out")]
    settings = ValueSettings(4, 0.5, 0.5, 0.0625, 4.0)
    joint = optimise_values(scorer, REQS, CONTEXTS, sites, settings)
    for i, req in enumerate(REQS):
        alone = optimise_values(scorer, [req], CONTEXTS, sites, settings)
        for s in sites:
            torch.testing.assert_close(joint.inits[s][i], alone.inits[s][0], atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(joint.targets[s][i], alone.targets[s][0], atol=1e-4, rtol=1e-3)


def test_block_site_init_is_the_residual_stream(tiny_lm):
    scorer, site = Scorer(tiny_lm.model, tiny_lm.tokenizer), (3, BLOCK)
    res = optimise_values(scorer, REQS, CONTEXTS, [site], ValueSettings(2, 0.5, 0.0, 0.0, 4.0))
    assert res.targets[site].shape == res.inits[site].shape == (2, tiny_lm.model.config.hidden_size)
    assert res.steps == [1, 1]


def test_reusing_the_prefix_gives_the_full_forward_numbers(tiny_lm):
    """The prefix cache is an optimisation only: same inits, targets, losses and steps as running every column,
    also with a weight overlay active (ROME edits sequentially within a batch) and left-padded rows."""
    scorer = Scorer(tiny_lm.model, tiny_lm.tokenizer)
    requests = REQS + [EditRequest("Who founded Acme Corporation?", "Acme", "Wile E. Coyote", None)]
    contexts = ["", "The cat sat on the mat and looked around. "]
    sites = [(1, "o"), (2, "mlp_out")]
    settings = ValueSettings(5, 0.5, 0.5, 0.0625, 4.0)
    weight = site_module(tiny_lm.model, (0, "mlp_out")).weight
    shape = weight.shape if weight.shape[0] == tiny_lm.model.config.hidden_size else weight.shape[::-1]
    delta = {(0, "mlp_out"): torch.randn(shape, generator=torch.Generator().manual_seed(0)) * 0.05}
    widths = []
    embed = site_module(tiny_lm.model, (0, EMBED))
    for active in (contextlib.nullcontext(), overlay(tiny_lm.model, delta)):
        with active:
            full = optimise_values(scorer, requests, contexts, sites, settings, reuse_prefix=False)
            handle = embed.register_forward_pre_hook(lambda _m, args: widths.append(args[0].shape[1]))
            fast = optimise_values(scorer, requests, contexts, sites, settings)
            handle.remove()
        assert widths[0] + widths[1] < max(widths) * 2  # the prefix pass, then steps on the rest only
        assert fast.steps == full.steps
        assert fast.losses == pytest.approx(full.losses, rel=1e-4, abs=1e-5)
        for s in sites:
            torch.testing.assert_close(fast.inits[s], full.inits[s], atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(fast.targets[s], full.targets[s], atol=1e-4, rtol=1e-3)
