"""r-ROME on both tiny layouts: the key the update is computed from is the key it writes the value at (ROME's is
not), per key source; a batch is edited one request after another; every protocol resets bitwise."""

from __future__ import annotations

import pytest
import torch
from conftest import make_case

from bench.arch import arch_of, module_path
from bench.registry import build_config
from editors.locate.hooks import site_module
from editors.locate.keys import read_at_lookup
from editors.locate.requests import requests_from_cases
from editors.r_rome import RROME
from editors.r_rome.r_rome import type_mean
from editors.rome import ROME
from tests.protocol_runs import assert_batch_is_sequential, run_every_protocol

FAST = {"v_num_grad_steps": "3", "contexts_per_length": "2", "stats_samples": "256"}

pytestmark = pytest.mark.usefixtures("module_stats_cache")


def _edit_one(cls, lm, **args):
    """Edit one case; return the editor, the site, the optimised value, the keys and the edited weight's change."""
    editor = cls(lm, build_config(cls, {**FAST, **args}))
    site, case = (editor.config.layers[0], "mlp_out"), make_case()
    name = module_path(lm.model, *site) + ".weight"
    before = dict(lm.model.named_parameters())[name].detach().clone()
    keys, _ = read_at_lookup(editor.scorer, requests_from_cases([case]), editor.contexts, [site])
    editor.edit([case])
    delta = (dict(lm.model.named_parameters())[name].detach() - before).double()
    delta = delta.T if arch_of(lm.model).conv1d else delta
    return editor, site, editor.last_values.targets[site][0], keys[site][0], delta


@pytest.mark.parametrize("mom2", ["false", "true"])
def test_the_prefix_averaged_key_gets_the_value_and_ROMEs_does_not(tiny_lm, mom2):
    outputs = {}
    for cls in (RROME, ROME):
        editor, site, target, keys, _ = _edit_one(cls, tiny_lm, mom2_adjustment=mom2)
        with torch.no_grad():  # the edited module applied to the key the update was computed from, k*
            module = site_module(tiny_lm.model, site)
            outputs[cls.name] = module(keys.mean(0)), module(keys[0])
        editor.reset()
    at_mean, _ = outputs["r-rome"]
    torch.testing.assert_close(at_mean, target, atol=1e-4, rtol=1e-4)  # (W + delta) k* = v*
    rome_mean, rome_prompt = outputs["rome"]
    torch.testing.assert_close(rome_prompt, target, atol=1e-4, rtol=1e-4)  # ROME writes v* at the bare prompt's k
    assert (rome_mean - target).norm() > 100 * (at_mean - target).norm()  # not at k*, the key u came from


def test_prompt_keys_use_the_bare_prompt_key_in_both_places(tiny_lm):
    editor, site, target, keys, delta = _edit_one(RROME, tiny_lm, key_source="prompt", mom2_adjustment="false")
    with torch.no_grad():
        torch.testing.assert_close(site_module(tiny_lm.model, site)(keys[0]), target, atol=1e-4, rtol=1e-4)
    # C = I: the rank-one update's input direction is the bare prompt's key itself, not the mean key
    direction = torch.linalg.svd(delta).Vh[0]
    assert abs(torch.nn.functional.cosine_similarity(direction, keys[0].double(), dim=0)) > 1 - 1e-6
    assert abs(torch.nn.functional.cosine_similarity(direction, keys.mean(0).double(), dim=0)) < 1 - 1e-4
    editor.reset()


def test_type_mean_weighs_each_context_type_alike():
    keys = torch.arange(10.0).reshape(5, 2)  # the bare prompt, then two lengths of two prefixes each
    expected = (keys[0] + keys[1:3].mean(0) + keys[3:5].mean(0)) / 3
    torch.testing.assert_close(type_mean(keys, 2), expected)
    torch.testing.assert_close(type_mean(keys[:1], 0), keys[0])


def test_type_keys_map_the_type_mean_key_to_the_bare_prompts_residual(tiny_lm):
    """The authors' MEMIT-form r-ROME: u from the mean over context types (bare prompt 1/2 with one prefix
    length), residual v* minus the bare prompt's own output."""
    editor, site, target, keys, delta = _edit_one(RROME, tiny_lm, key_source="types", mom2_adjustment="false")
    assert len(editor.config.context_lengths) == 1
    key_e = (keys[0] + keys[1:].mean(0)).double() / 2
    editor.reset()  # the bare prompt's output before the edit
    _, outputs = read_at_lookup(editor.scorer, requests_from_cases([make_case()]), [""], [site])
    with torch.no_grad():
        torch.testing.assert_close(delta @ key_e, (target - outputs[site][0, 0]).double(), atol=1e-4, rtol=1e-4)
    direction = torch.linalg.svd(delta).Vh[0]
    assert abs(torch.nn.functional.cosine_similarity(direction, key_e, dim=0)) > 1 - 1e-6
    assert abs(torch.nn.functional.cosine_similarity(direction, keys.mean(0).double(), dim=0)) < 1 - 1e-4


def test_a_batch_is_edited_one_after_another(tiny_lm, cases):
    editor = RROME(tiny_lm, build_config(RROME, FAST))
    assert_batch_is_sequential(editor, tiny_lm, cases)


def test_every_protocol_resets_bitwise(tiny_lm, cases, tmp_path):
    editor = RROME(tiny_lm, build_config(RROME, FAST))
    assert editor.capabilities.batch and editor.capabilities.sequential
    run_every_protocol(editor, cases, tmp_path / "states")
