import pytest

from bench.arch import (
    ARCHITECTURES,
    arch_of,
    get_module,
    head_counts,
    hidden_size,
    module_path,
    num_layers,
    scaled_layer_range,
)
from bench.errors import BenchError


def test_llama_layout(tiny_llama):
    m = tiny_llama.model
    assert module_path(m, 2, "mlp_out") == "model.layers.2.mlp.down_proj"
    assert get_module(m, 1, "k") is m.model.layers[1].self_attn.k_proj
    assert get_module(m, 0, "mlp_gate") is m.model.layers[0].mlp.gate_proj
    assert head_counts(m) == (4, 2, 16) and hidden_size(m) == 64 and num_layers(m) == 4
    assert not arch_of(m).conv1d


def test_gpt2_layout(tiny_gpt2):
    m = tiny_gpt2.model
    assert get_module(m, 3, "mlp_out") is m.transformer.h[3].mlp.c_proj
    assert get_module(m, 0, "qkv") is m.transformer.h[0].attn.c_attn
    assert arch_of(m).conv1d and head_counts(m) == (4, 4, 16)
    with pytest.raises(BenchError, match="no separate 'k'"):
        get_module(m, 0, "k")


def test_every_table_entry_names_its_parts():
    for spec in ARCHITECTURES.values():
        assert spec.path(0, "mlp_out").startswith(spec.layers + ".0.")
        assert spec.path(0, "o")
    with pytest.raises(BenchError, match="unknown module part"):
        ARCHITECTURES["llama"].path(0, "ffn")


def test_unknown_model_type_is_refused(tiny_llama):
    class Fake:
        class config:
            model_type = "rwkv"

    with pytest.raises(BenchError, match="not in the architecture table"):
        arch_of(Fake())


def test_scaled_layer_range(tiny_llama):
    assert scaled_layer_range(tiny_llama.model) == [1, 2]  # 10-20 of 32 on a 4-layer model
