"""EMMET: the equality-constrained closed form by hand, its relation to ROME's and MEMIT's, every edited key's new
value written exactly at every layer of a real edit, every protocol with a bitwise reset."""

from __future__ import annotations

import pytest
import torch

from bench.registry import build_config
from bench.restore import parameter_hash
from editors.emmet import EMMET
from editors.emmet.emmet import constrained_delta
from editors.locate.hooks import BLOCK
from editors.locate.keys import read_at_lookup
from editors.locate.requests import requests_from_cases
from editors.locate.update import rank_one_delta, spread_delta
from tests.protocol_runs import run_every_protocol

FAST = {"v_num_grad_steps": "4", "contexts_per_length": "1", "stats_samples": "256"}
EXACT = {**FAST, "emmet_lambda": "0"}

pytestmark = pytest.mark.usefixtures("module_stats_cache")


def _spd(d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    return a @ a.T / d + 0.1 * torch.eye(d, dtype=torch.float64)


def test_equality_constraints_hold_exactly_by_hand():
    """Three keys in 6 dimensions: W_new k_i = W k_i + r_i = v_i for each, and no smaller update (in C's metric)."""
    g = torch.Generator().manual_seed(0)
    w = torch.randn(4, 6, generator=g, dtype=torch.float64)
    keys = torch.randn(3, 6, generator=g, dtype=torch.float64)
    values = torch.randn(3, 4, generator=g, dtype=torch.float64)
    cov = _spd(6, 1)
    delta = constrained_delta(keys, values - keys @ w.T, cov, 1.0, 0.0, 0.0)
    torch.testing.assert_close(keys @ (w + delta).T, values, atol=1e-12, rtol=0)
    # by hand: delta = R^T (K C^-1 K^T)^-1 K C^-1
    c_inv = torch.linalg.inv(cov)
    by_hand = (values - keys @ w.T).T @ torch.linalg.inv(keys @ c_inv @ keys.T) @ keys @ c_inv
    torch.testing.assert_close(delta, by_hand)
    # any other update meeting the constraints adds a C-metric component orthogonal to them: it is larger
    other = delta + torch.randn(4, 6, generator=g, dtype=torch.float64) @ (torch.eye(6, dtype=torch.float64)
                                                                           - keys.T @ torch.linalg.pinv(keys.T))
    torch.testing.assert_close(keys @ (w + other).T, values, atol=1e-10, rtol=0)
    assert torch.trace(other @ cov @ other.T) > torch.trace(delta @ cov @ delta.T)


def test_one_key_is_ROMEs_update_and_a_ridge_is_MEMITs():
    g = torch.Generator().manual_seed(2)
    cov = _spd(6, 3)
    key, residual = torch.randn(1, 6, generator=g, dtype=torch.float64), torch.randn(1, 4, generator=g,
                                                                                      dtype=torch.float64)
    torch.testing.assert_close(constrained_delta(key, residual, cov, 1.0, 0.0, 0.0),
                               rank_one_delta(key[0], key[0], residual[0], cov))
    keys, residuals = torch.randn(3, 6, generator=g, dtype=torch.float64), torch.randn(3, 4, generator=g,
                                                                                       dtype=torch.float64)
    # emmet_lambda relaxes the constraints into MEMIT's trade-off with lambda = emmet_lambda * mom2_update_weight
    torch.testing.assert_close(constrained_delta(keys, residuals, cov, 2.0, 0.0, 0.5),
                               spread_delta(keys, residuals, cov, 1.0))
    # update_norm_lambda adds a ridge to C; C = None is the identity
    torch.testing.assert_close(constrained_delta(keys, residuals, cov, 1.0, 0.3, 0.0),
                               constrained_delta(keys, residuals, cov + 0.3 * torch.eye(6, dtype=torch.float64),
                                                 1.0, 0.0, 0.0))
    torch.testing.assert_close(constrained_delta(keys, residuals, None, 1.0, 0.0, 0.0),
                               constrained_delta(keys, residuals, torch.eye(6, dtype=torch.float64), 1.0, 0.0, 0.0))


def test_every_layer_writes_every_edited_keys_value(tiny_lm, cases, monkeypatch):
    """In a real batch edit, each layer's update maps each edited key (mean over prefixes) to old output + its
    residual exactly; with no prefixes the top residual then reaches z, as the constraints promise."""
    editor = EMMET(tiny_lm, build_config(EMMET, {**EXACT, "contexts_per_length": "0"}))
    digest = parameter_hash(tiny_lm.model)
    seen = []
    layer_delta = EMMET.layer_delta

    def recording(self, site, keys, residuals, cov):
        delta = layer_delta(self, site, keys, residuals, cov)
        seen.append((site, keys, residuals, delta))
        return delta

    monkeypatch.setattr(EMMET, "layer_delta", recording)
    editor.edit(cases)
    assert [site for site, *_ in seen] == editor.edited_sites()
    for _site, keys, residuals, delta in seen:
        assert keys.shape[0] == len(cases)
        torch.testing.assert_close(keys.double() @ delta.T, residuals.double(), atol=1e-9, rtol=1e-7)
    z_site = (editor.config.layers[-1], BLOCK)
    _, h = read_at_lookup(editor.scorer, requests_from_cases(cases), [""], [z_site])
    torch.testing.assert_close(h[z_site][:, 0], editor.last_values.targets[z_site], atol=1e-4, rtol=1e-3)
    editor.reset()
    assert parameter_hash(tiny_lm.model) == digest


def test_every_protocol_resets_bitwise(tiny_lm, cases, tmp_path):
    editor = EMMET(tiny_lm, build_config(EMMET, FAST))
    assert editor.capabilities.batch and editor.capabilities.sequential
    run_every_protocol(editor, cases, tmp_path / "states")
