"""PMET on both tiny layouts: separate attention/MLP targets, MLP-only update by default, bitwise reset."""

from __future__ import annotations

import pytest
import torch

from bench.arch import module_path
from bench.registry import build_config
from bench.restore import parameter_hash
from editors.locate.keys import read_at_lookup
from editors.locate.requests import requests_from_cases
from editors.pmet import PMET

FAST = {"v_num_grad_steps": "4", "contexts_per_length": "1", "stats_samples": "256"}
# no context prefixes and a tiny lambda: the least-squares fit is then exact on the bare prompts' keys
EXACT = {**FAST, "contexts_per_length": "0", "mom2_update_weight": "1e-4"}


pytestmark = pytest.mark.usefixtures("module_stats_cache")


def _changed(model, before):
    return sorted(n for n, p in model.named_parameters() if not torch.equal(p, before[n]))


@pytest.mark.parametrize("attention", [False, True])
def test_updates_where_placed_and_top_mlp_output_reaches_its_target(tiny_lm, cases, attention):
    editor = PMET(tiny_lm, build_config(PMET, {**EXACT, "update_attention": str(attention)}))
    digest = parameter_hash(tiny_lm.model)
    before = {n: p.detach().clone() for n, p in tiny_lm.model.named_parameters()}
    top = editor.config.layers[-1]
    requests, mlp_site = requests_from_cases(cases), (top, "mlp_out")
    editor.edit(cases)
    parts = ("o", "mlp_out") if attention else ("mlp_out",)
    expected = sorted(module_path(tiny_lm.model, layer, part) + ".weight"
                      for layer in editor.config.layers for part in parts)
    assert _changed(tiny_lm.model, before) == expected
    assert set(editor.last_values.targets) == {(top, "o"), mlp_site}
    _, out_after = read_at_lookup(editor.scorer, requests, [""], [mlp_site])
    torch.testing.assert_close(out_after[mlp_site][:, 0], editor.last_values.targets[mlp_site], atol=1e-4, rtol=1e-3)
    editor.reset()
    assert parameter_hash(tiny_lm.model) == digest
