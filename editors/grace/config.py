"""Typed hyper-parameters of GRACE (EasyEdit's LLaMA-7B settings: layer 27 of 32 MLP output, eps 1, lr 1)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bench.arch import PARTS, check_part, num_layers
from bench.arguments import MAX_STEPS, arg
from bench.editor import EditorConfig

REFERENCE_LAYER, REFERENCE_DEPTH = 27, 32
VALUE_INITS = ("cold", "warm")
# Modules whose output is one tensor (the hook replaces it at the key's position); whole attention returns a tuple.
HOOK_PARTS = tuple(p for p in PARTS if p != "attn")


@dataclass
class GRACEConfig(EditorConfig):
    layer: int = arg(-1, lo=0, special=(-1,), layer=True, note="-1: layer 27 of 32, scaled to the model's depth",
                     help="the layer whose module holds the codebook")
    part: str = arg("mlp_out", choices=HOOK_PARTS, help="arch-table module whose input is the key, output replaced")
    eps: float = arg(1.0, lo=0, help="initial deferral radius (Euclidean, in the key space)")
    n_iter: int = arg(100, lo=1, hi=MAX_STEPS, help="value-training steps per edit")
    edit_lr: float = arg(1.0, above=0, help="Adam learning rate for the value")
    val_init: str = arg("cold", choices=VALUE_INITS,
                        help="cold: uniform [0, 1) as in GRACE; warm: the module's output at the key")
    early_stop_loss: float = arg(1e-2, lo=0, help="stop training a value once its loss falls below this")

    def check_model(self, editor: str, lm, editor_cls) -> None:
        """The part must exist in this architecture."""
        check_part(editor, lm.model, lm.name, max(self.layer, 0), self.part)


def edit_layer(model: torch.nn.Module, config: GRACEConfig) -> int:
    n = num_layers(model)
    if config.layer >= 0:
        return config.layer
    return min(n - 1, round(REFERENCE_LAYER * n / REFERENCE_DEPTH))
