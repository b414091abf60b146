import pytest
import torch

from bench import restore
from bench.restore import WeightRestorer, fingerprint, parameter_hash


@pytest.mark.parametrize("host_bytes", [True, False])
def test_restore_is_bitwise_and_hash_sees_one_bit(tiny_lm, host_bytes):
    model = tiny_lm.model
    before = parameter_hash(model, host_bytes)
    name, param = next(iter(model.named_parameters()))
    restorer = WeightRestorer(model)
    restorer.save([name])
    with torch.no_grad():
        bits = param.view(-1)[:1].view(torch.int32)
        bits ^= 1  # flip the lowest mantissa bit of one element
    assert parameter_hash(model, host_bytes) != before
    restorer.restore()
    assert parameter_hash(model, host_bytes) == before and restorer.saved_names == []


def test_first_saved_value_wins_across_sequential_edits(tiny_gpt2):
    model = tiny_gpt2.model
    name, param = list(model.named_parameters())[-1]
    original = param.detach().clone()
    restorer = WeightRestorer(model)
    for _ in range(2):
        restorer.save([name])
        with torch.no_grad():
            param.add_(1.0)
    restorer.restore()
    assert torch.equal(param, original)


def test_hash_covers_bfloat16(tiny_llama):
    from bench.models import load_model

    lm = load_model("tiny-llama", "cpu", "bfloat16")
    h = parameter_hash(lm.model)
    with torch.no_grad():
        next(lm.model.parameters()).view(-1)[0] += 1
    assert parameter_hash(lm.model) != h


@pytest.fixture(scope="module")
def own_llama():
    """A tiny model of this module's own: the tests below change it (and undo every change)."""
    from bench.models import load_model

    return load_model("tiny-llama", "cpu").model


def _old_word_sums(p: torch.Tensor) -> tuple[int, int]:
    """The former accelerator digest of one tensor: sum and position-weighted sum of its int32 words."""
    words = p.detach().reshape(-1).view(torch.int32).to(torch.int64)
    weights = torch.arange(words.numel(), dtype=torch.int64) % 65521 + 1
    return int(words.sum()), int((words * weights).sum())


@pytest.mark.parametrize("host_bytes", [True, False])
def test_digest_sees_word_changes_that_cancel_in_sums(own_llama, monkeypatch, host_bytes):
    monkeypatch.setattr(restore, "CHUNK_BYTES", 256)  # many pieces: the change straddles a piece boundary
    reference = fingerprint(own_llama, host_bytes)
    assert reference == fingerprint(own_llama, not host_bytes)  # the same digest on every path
    param = next(own_llama.parameters())
    sums = _old_word_sums(param)
    bump = torch.tensor([1, -2, 1], dtype=torch.int32)
    with torch.no_grad():
        param.view(-1).view(torch.int32)[63:66] += bump  # words 63..65: bytes 252..263
    try:
        assert _old_word_sums(param) == sums  # the constructed change passed the former digest
        assert fingerprint(own_llama, host_bytes).differences(reference) == ["parameters differ"]
    finally:
        with torch.no_grad():
            param.view(-1).view(torch.int32)[63:66] -= bump
    assert fingerprint(own_llama, host_bytes) == reference


def _flip_requires_grad(model):
    param = next(model.parameters())
    param.requires_grad_(not param.requires_grad)
    return lambda: param.requires_grad_(not param.requires_grad)


def _scale_inv_freq(model):  # a non-persistent buffer: not in the state dict, still used by every forward
    buf = dict(model.named_buffers())["model.rotary_emb.inv_freq"]
    buf.mul_(2)
    return lambda: buf.div_(2)


def _forward_hook(model):
    return model.model.layers[1].mlp.register_forward_hook(lambda *a: None).remove


def _pre_hook(model):
    return model.model.layers[0].self_attn.register_forward_pre_hook(lambda *a: None).remove


def _global_hook(model):
    return torch.nn.modules.module.register_module_forward_hook(lambda *a: None).remove


def _train_mode(model):
    model.train()
    return model.eval


def _scale_attention(model):  # what an attention re-weighting editor might leave behind
    attention = model.model.layers[0].self_attn
    attention.scaling *= 4
    return lambda: setattr(attention, "scaling", attention.scaling / 4)


def _patch_forward(model):
    mlp = model.model.layers[1].mlp
    mlp.forward = lambda x: x
    return lambda: delattr(mlp, "forward")


def _config_value(model):  # the config every layer shares: one change shows on each module that holds it
    model.config.rms_norm_eps *= 10
    return lambda: setattr(model.config, "rms_norm_eps", model.config.rms_norm_eps / 10)


@pytest.mark.parametrize(("leak", "seen"), [
    (_scale_attention, "module attributes changed: model.layers.0.self_attn.scaling was 0.25, is 1.0"),
    (_patch_forward, "module attributes changed: model.layers.1.mlp.forward added (function@"),
    (_config_value, "module attributes changed: <model>.config was "),
    (_flip_requires_grad, "requires_grad changed on model.embed_tokens.weight"),
    (_scale_inv_freq, "buffers differ"),
    (_forward_hook, "hooks added or removed on model.layers.1.mlp._forward_hooks"),
    (_pre_hook, "hooks added or removed on model.layers.0.self_attn._forward_pre_hooks"),
    (_global_hook, "hooks added or removed on <global>._global_forward_hooks"),
    (_train_mode, "modules differ"),
])
def test_fingerprint_sees_more_than_parameter_bits(own_llama, leak, seen):
    reference = fingerprint(own_llama)
    undo = leak(own_llama)
    try:
        assert parameter_hash(own_llama) == reference.parameters  # the former check would have passed
        assert [d[:len(seen)] for d in fingerprint(own_llama).differences(reference)] == [seen]
    finally:
        undo()
    assert fingerprint(own_llama) == reference


def test_declared_attributes_are_ignored_and_only_they(own_llama):
    reference = fingerprint(own_llama)
    undo = _scale_attention(own_llama)
    try:
        assert fingerprint(own_llama).differences(reference, ("model.layers.*.self_attn.scaling",)) == []
        assert fingerprint(own_llama).differences(reference, ("model.layers.*.mlp.*",)) != []
    finally:
        undo()
