"""ROME on both tiny layouts: v* is written exactly, batches are sequential, reset is bitwise."""

from __future__ import annotations

import json
import os

import pytest
import torch
from conftest import make_case

from bench.arch import module_path
from bench.data.schema import REL
from bench.editor import Request
from bench.registry import build_config, get_editor_class
from bench.restore import parameter_hash
from editors.locate.keys import read_at_lookup
from editors.locate.requests import requests_from_cases
from editors.rome import ROME
from tests.protocol_runs import assert_batch_is_sequential

FAST = {"v_num_grad_steps": "3", "contexts_per_length": "1", "stats_samples": "256"}
USER_CACHE = os.environ.get("BENCH_CACHE_DIR")  # where the converted SmolLM2 lives


pytestmark = pytest.mark.usefixtures("module_stats_cache")


def _changed(model, before):
    return sorted(n for n, p in model.named_parameters() if not torch.equal(p, before[n]))


def test_edit_writes_v_star_only_at_the_layer_and_resets_bitwise(tiny_lm):
    editor = ROME(tiny_lm, build_config(ROME, {**FAST, "mom2_adjustment": "true"}))
    before = {n: p.detach().clone() for n, p in tiny_lm.model.named_parameters()}
    digest, case = parameter_hash(tiny_lm.model), make_case()
    editor.edit([case])
    site = (editor.config.layers[0], "mlp_out")
    assert _changed(tiny_lm.model, before) == [module_path(tiny_lm.model, *site) + ".weight"]
    _, out = read_at_lookup(editor.scorer, requests_from_cases([case]), [""], [site])
    torch.testing.assert_close(out[site][0, 0], editor.last_values.targets[site][0], atol=1e-4, rtol=1e-4)
    editor.score([Request(case, q) for q in case.of_kind(REL)])
    editor.reset()
    assert parameter_hash(tiny_lm.model) == digest
    described = json.loads(json.dumps(editor.describe()))
    assert described["statistics"]["sites"][f"layer{site[0]}.mlp_out"]["count"] == 256
    assert os.path.exists(described["statistics"]["sites"][f"layer{site[0]}.mlp_out"]["path"])


def test_a_batch_is_edited_one_after_another(tiny_lm, cases):
    editor = get_editor_class("rome")(tiny_lm, build_config(ROME, {**FAST, "mom2_adjustment": "false"}))
    assert_batch_is_sequential(editor, tiny_lm, cases)
    assert editor.describe()["statistics"].startswith("none: C = I")


@pytest.mark.integration
def test_rome_edits_smollm2(monkeypatch):
    from bench.models import load_model

    if USER_CACHE is None:
        monkeypatch.delenv("BENCH_CACHE_DIR")
    else:
        monkeypatch.setenv("BENCH_CACHE_DIR", USER_CACHE)
    lm = load_model("smollm2-135m", device="cpu")
    editor = ROME(lm, build_config(ROME, {"contexts_per_length": "1", "v_num_grad_steps": "15"}))
    digest, case = parameter_hash(lm.model), make_case()
    requests = [Request(case, q) for q in case.of_kind(REL)]
    assert editor.score(requests)[0].accuracy < 1.0
    editor.edit([case])
    assert editor.score(requests)[0].accuracy == 1.0
    editor.reset()
    assert parameter_hash(lm.model) == digest
