"""LoRA: adapter targets from the arch table, training on the edit, bitwise reset, sequential modes."""

from __future__ import annotations

import pytest
import torch
from conftest import make_case

from bench.data.schema import REL
from bench.editor import Request
from bench.errors import BenchError
from bench.restore import parameter_hash
from editors.lora import LoRA, LoRAConfig, target_modules

FAST = dict(num_steps=15, early_stop_loss=0.0)


def rel_score(editor, case):
    return editor.score([Request(case, case.of_kind(REL)[0])])[0]


def test_targets_come_from_the_architecture_table(tiny_llama, tiny_gpt2):
    assert target_modules(tiny_llama.model, "q,v", []) == [
        f"model.layers.{i}.self_attn.{p}_proj" for i in range(4) for p in ("q", "v")]
    # GPT-2 fuses q/k/v: both map to the one c_attn projection
    fused = ["transformer.h.1.attn.c_attn", "transformer.h.2.attn.c_attn"]
    assert target_modules(tiny_gpt2.model, "q,v", [1, 2]) == fused
    assert target_modules(tiny_llama.model, "mlp_out", [3]) == ["model.layers.3.mlp.down_proj"]
    with pytest.raises(BenchError, match="out of range"):
        target_modules(tiny_llama.model, "q", [7])
    with pytest.raises(BenchError, match="not a projection"):
        target_modules(tiny_llama.model, "mlp", [])
    with pytest.raises(BenchError, match="unknown module part"):
        target_modules(tiny_llama.model, "foo", [])


def test_edit_learns_the_target_and_reset_restores_bitwise(tiny_lm):
    case = make_case()
    model = tiny_lm.model
    before_hash, modules_before = parameter_hash(model), {n: type(m) for n, m in model.named_modules()}
    editor = LoRA(tiny_lm, LoRAConfig(**FAST))
    base = editor.score([Request(case, q) for q in case.queries])
    editor.edit([case])
    assert editor.last_losses[-1] < editor.last_losses[0]
    assert rel_score(editor, case).logprob > base[0].logprob + 1.0
    assert parameter_hash(model) != before_hash  # the adapter's parameters are part of the model now
    editor.reset()
    assert parameter_hash(model) == before_hash
    assert {n: type(m) for n, m in model.named_modules()} == modules_before
    assert not any(p.requires_grad for p in model.parameters())
    assert not hasattr(model, "peft_config")
    after = editor.score([Request(case, q) for q in case.queries])
    assert [s.logprobs for s in after] == [s.logprobs for s in base]


def test_edit_is_reproducible_and_leaves_the_global_rng_alone(tiny_llama):
    case = make_case()
    editor = LoRA(tiny_llama, LoRAConfig(**FAST))
    state = torch.random.get_rng_state()
    editor.edit([case])
    assert torch.equal(torch.random.get_rng_state(), state)
    first = rel_score(editor, case).logprobs
    editor.reset()
    editor.edit([case])
    assert rel_score(editor, case).logprobs == first
    editor.reset()


def test_batch_edit_trains_every_case(tiny_gpt2, cases):
    editor = LoRA(tiny_gpt2, LoRAConfig(num_steps=25, early_stop_loss=0.0))
    base = [rel_score(editor, c).logprob for c in cases]
    editor.edit(cases)
    assert all(rel_score(editor, c).logprob > b for c, b in zip(cases, base))
    editor.reset()


@pytest.mark.parametrize("mode", ["accumulate", "retrain"])
def test_sequential_modes(tiny_llama, cases, mode):
    editor = LoRA(tiny_llama, LoRAConfig(sequential=mode, **FAST))
    editor.edit(cases[:1])
    adapter = editor._tuner
    editor.edit(cases[1:2])
    assert (editor._tuner is adapter) == (mode == "accumulate")
    assert len(editor._history) == 2
    editor.reset()
    assert editor._history == [] and editor._tuner is None


def test_bad_settings_are_refused(tiny_llama):
    with pytest.raises(BenchError, match="sequential="):
        LoRA(tiny_llama, LoRAConfig(sequential="merge"))
    editor = LoRA(tiny_llama, LoRAConfig(**FAST))
    empty = make_case()
    empty.edits = []
    with pytest.raises(BenchError, match="no edits"):
        editor.edit([empty])
    assert editor.capabilities.changes_weights and editor.capabilities.batch and editor.capabilities.sequential
