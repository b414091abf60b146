"""Typed hyper-parameters of GRACE (EasyEdit's LLaMA-7B settings: layer 27 of 32 MLP output, eps 1, lr 1)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bench.arch import num_layers
from editors.base import EditorConfig

REFERENCE_LAYER, REFERENCE_DEPTH = 27, 32
VALUE_INITS = ("cold", "warm")


@dataclass
class GRACEConfig(EditorConfig):
    layer: int = -1  # -1: layer 27 of 32, scaled to the model's depth
    part: str = "mlp_out"  # arch-table module whose input is the key and whose output is replaced
    eps: float = 1.0  # initial deferral radius (Euclidean, in the key space)
    n_iter: int = 100  # value-training steps per edit
    edit_lr: float = 1.0  # Adam learning rate for the value
    val_init: str = "cold"  # cold: uniform [0, 1) as in GRACE; warm: the layer's output at the key
    early_stop_loss: float = 1e-2


def edit_layer(model: torch.nn.Module, config: GRACEConfig) -> int:
    n = num_layers(model)
    if config.layer >= 0:
        return config.layer
    return min(n - 1, round(REFERENCE_LAYER * n / REFERENCE_DEPTH))
