"""Which modules get an adapter: arch-table parts x layers, as full module paths (no hard-coded names)."""

from __future__ import annotations

import torch

from bench.arch import arch_of, module_path, num_layers
from bench.errors import BenchError

_FUSED = {"q": "qkv", "k": "qkv", "v": "qkv"}


def target_modules(model: torch.nn.Module, parts: str, layers: list[int]) -> list[str]:
    """Module paths for `parts` ('q,v', 'mlp_out', ...) in `layers` (all when empty).

    On architectures with a fused q/k/v projection (GPT-2) q, k and v map to 'qkv'.
    """
    spec, n = arch_of(model), num_layers(model)
    chosen = list(layers) or list(range(n))
    bad = [layer for layer in chosen if not 0 <= layer < n]
    if bad:
        raise BenchError(f"lora: layers {bad} out of range for a {n}-layer model")
    names = [p.strip() for p in parts.split(",") if p.strip()]
    if not names:
        raise BenchError("lora: 'parts' is empty; give arch-table parts such as 'q,v' or 'mlp_out'")
    resolved = []
    for part in names:
        if part in _FUSED and getattr(spec, part, None) is None:
            part = _FUSED[part]
        if part in ("attn", "mlp", "attn_norm", "mlp_norm"):
            raise BenchError(f"lora: part '{part}' is not a projection; use q, k, v, qkv, o, mlp_in, mlp_gate, mlp_out")
        if part not in resolved:
            resolved.append(part)
    return [module_path(model, layer, part) for layer in chosen for part in resolved]
