import pytest
import torch

from editors.restore import WeightRestorer, parameter_hash


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
