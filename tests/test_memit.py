"""MEMIT on both tiny layouts: batched spread over the layer range, residual moves toward z, bitwise reset."""

from __future__ import annotations

import pytest
import torch

from bench.arch import module_path
from bench.registry import build_config
from bench.restore import parameter_hash
from editors.locate.hooks import BLOCK
from editors.locate.keys import read_at_lookup
from editors.locate.requests import requests_from_cases
from editors.memit import MEMIT

FAST = {"v_num_grad_steps": "4", "contexts_per_length": "1", "stats_samples": "256"}
# no context prefixes and a tiny lambda: the least-squares fit is then exact on the bare prompts' keys
EXACT = {**FAST, "contexts_per_length": "0", "mom2_update_weight": "1e-4"}


pytestmark = pytest.mark.usefixtures("module_stats_cache")


def test_batch_edit_moves_the_top_residual_toward_z(tiny_lm, cases):
    editor = MEMIT(tiny_lm, build_config(MEMIT, {**FAST, "mom2_update_weight": "1"}))
    digest = parameter_hash(tiny_lm.model)
    before = {n: p.detach().clone() for n, p in tiny_lm.model.named_parameters()}
    requests, z_site = requests_from_cases(cases), (editor.config.layers[-1], BLOCK)
    _, h_before = read_at_lookup(editor.scorer, requests, [""], [z_site])
    editor.edit(cases)
    changed = sorted(n for n, p in tiny_lm.model.named_parameters() if not torch.equal(p, before[n]))
    assert changed == sorted(module_path(tiny_lm.model, layer, "mlp_out") + ".weight" for layer in editor.config.layers)
    _, h_after = read_at_lookup(editor.scorer, requests, [""], [z_site])
    z = editor.last_values.targets[z_site]
    assert torch.all((h_after[z_site][:, 0] - z).norm(dim=-1) < (h_before[z_site][:, 0] - z).norm(dim=-1))
    editor.reset()
    assert parameter_hash(tiny_lm.model) == digest


def test_exact_fit_puts_the_top_residual_at_z(tiny_lm, cases):
    editor = MEMIT(tiny_lm, build_config(MEMIT, EXACT))
    editor.edit(cases)
    z_site = (editor.config.layers[-1], BLOCK)
    _, h = read_at_lookup(editor.scorer, requests_from_cases(cases), [""], [z_site])
    torch.testing.assert_close(h[z_site][:, 0], editor.last_values.targets[z_site], atol=1e-4, rtol=1e-3)
    editor.reset()


def test_sequential_edits_accumulate_and_reset(tiny_lm, cases):
    editor = MEMIT(tiny_lm, build_config(MEMIT, FAST))
    digest = parameter_hash(tiny_lm.model)
    editor.edit(cases[:1])
    after_one = parameter_hash(tiny_lm.model)
    editor.edit(cases[1:])
    assert len({digest, after_one, parameter_hash(tiny_lm.model)}) == 3
    assert editor.timings.edits == 3 and 0 < editor.timings.values < editor.timings.total
    editor.reset()
    assert parameter_hash(tiny_lm.model) == digest
    assert editor.describe()["statistics"]["corpus"] == "model"
