"""InstructEd's trainable parameters: per-layer prefixes (the paper) or MLP adapters (the "w FFN" ablation).

Prefixes live in the hidden space and are projected by the layer's own frozen k/v projections (no
rotary embedding: prefix keys carry no position). Adapters are a linear bottleneck (hidden/8, as in the
authors' code) added to the MLP output, zero-initialised on the way up so training starts at the base model.
"""

from __future__ import annotations

import torch
from torch import nn

from bench.arch import ArchSpec, get_module, hidden_size


class PrefixBank(nn.Module):
    """All trainable tensors for one (model, layers, n_prefix, variant)."""

    def __init__(self, layers: list[int], hidden: int, n_prefix: int = 5, variant: str = "attn",
                 init_scale: dict[int, float] | None = None, seed: int = 0):
        super().__init__()
        self.layers, self.hidden, self.n_prefix, self.variant = list(layers), hidden, n_prefix, variant
        gen = torch.Generator().manual_seed(seed)
        scale = init_scale or {}
        if variant == "attn":
            self.prefix = nn.ParameterDict({
                str(layer): nn.Parameter(torch.randn(n_prefix, hidden, generator=gen) * scale.get(layer, 1.0))
                for layer in self.layers
            })
        else:
            rank = max(1, hidden // 8)
            self.down = nn.ParameterDict({
                str(layer): nn.Parameter(torch.randn(hidden, rank, generator=gen) / hidden**0.5)
                for layer in self.layers
            })
            self.up = nn.ParameterDict({str(layer): nn.Parameter(torch.zeros(rank, hidden)) for layer in self.layers})

    @classmethod
    def for_model(cls, model: nn.Module, layers: list[int], n_prefix: int = 5, variant: str = "attn",
                  seed: int = 0, relative_scale: float = 0.1) -> PrefixBank:
        """A fresh bank with small random prefixes: `relative_scale` times the RMS of the layer's normalised
        hidden states. At full scale random prefixes wreck the model (SmolLM2 answer-token loss 3.3 -> 7.8);
        at 0.1 training starts near the instruction-only model, and the randomness breaks the symmetry
        between the prefixes."""
        hidden = hidden_size(model)
        scale = ({layer: relative_scale * _normed_scale(model, layer, hidden) for layer in layers}
                 if variant == "attn" else None)
        param = next(model.parameters())
        return cls(layers, hidden, n_prefix, variant, scale, seed).to(param.device)

    def adapter(self, layer: int, x: torch.Tensor) -> torch.Tensor:
        """The ffn variant's additive MLP correction for layer `layer`."""
        down, up = self.down[str(layer)], self.up[str(layer)]
        return (x @ down.to(x.dtype)) @ up.to(x.dtype)

    def prefix_kv(self, module: nn.Module, arch: ArchSpec, layer: int,
                  heads: tuple[int, int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """(key, value) of layer `layer`'s prefixes, each (1, kv_heads, n_prefix, head_dim)."""
        _, n_kv, head_dim = heads
        weight = next(module.parameters())
        p = self.prefix[str(layer)].to(device=weight.device, dtype=weight.dtype)
        if arch.qkv is not None:
            _, k, v = module.get_submodule(arch.qkv)(p).split(n_kv * head_dim, dim=-1)
        else:
            k, v = module.get_submodule(arch.k)(p), module.get_submodule(arch.v)(p)
        k, v = k.view(self.n_prefix, n_kv, head_dim), v.view(self.n_prefix, n_kv, head_dim)
        if hasattr(module, "k_norm"):  # qk-norm models (Gemma 3, Qwen 3) normalise keys before rotary
            k = module.k_norm(k)
        return k.transpose(0, 1)[None], v.transpose(0, 1)[None]

    def num_bytes(self) -> int:
        return sum(p.numel() * p.element_size() for p in self.parameters())


def expected_shapes(layers: list[int], hidden: int, n_prefix: int, variant: str) -> dict[str, tuple[int, ...]]:
    """The tensor names and shapes a bank stores, computed without building one (checkpoint size for any model)."""
    if variant == "attn":
        return {f"prefix.{layer}": (n_prefix, hidden) for layer in layers}
    rank = max(1, hidden // 8)
    out = {}
    for layer in layers:
        out[f"down.{layer}"], out[f"up.{layer}"] = (hidden, rank), (rank, hidden)
    return out


@torch.no_grad()
def _normed_scale(model: nn.Module, layer: int, hidden: int) -> float:
    """RMS of the layer's attention-input norm applied to random vectors (handles RMSNorm, LayerNorm, Gemma's 1+w)."""
    norm = get_module(model, layer, "attn_norm")
    weight = next(norm.parameters())
    x = torch.randn(64, hidden, generator=torch.Generator().manual_seed(layer)).to(weight.device, weight.dtype)
    return float(norm(x).float().pow(2).mean().sqrt())


