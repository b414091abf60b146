"""Typed hyper-parameters of FT-L and FT-M: EasyEdit's LLaMA-7B settings (layer scaled to the model's depth).

Measured on SmolLM2-135M, 20 CounterFact cases: FT-M with EasyEdit's lr 5e-4 gets Rel 100 (lr 1e-3: Rel 100 with
more generalisation but less locality); FT-L's 5e-5 ball is too tight to move a 135M model (Rel 0), as in EasyEdit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from bench.arch import num_layers
from bench.arguments import MAX_STEPS, arg
from bench.editor import EditorConfig

# EasyEdit edits layer 21 of LLaMA-7B's 32; other depths get the same relative depth.
REFERENCE_LAYER, REFERENCE_DEPTH = 21, 32


@dataclass
class FTConfig(EditorConfig):
    layers: list[int] = arg(factory=list, lo=0, layer=True,
                            help="layers whose MLP output projection is tuned; empty: layer 21 of 32, scaled to depth")
    lr: float = arg(5e-4, above=0, help="Adam learning rate")
    num_steps: int = arg(25, lo=1, hi=MAX_STEPS, help="optimisation steps per edit (fewer when the loss stops early)")
    norm_constraint: float = arg(0.0, lo=0, help="> 0: clamp weights into [W0 - eps, W0 + eps] each step; 0: off")
    weight_decay: float = arg(0.0, lo=0, help="Adam weight decay")
    early_stop_loss: float = arg(1e-2, lo=0, help="stop once the mini-batch loss falls below this")

    def resolved(self, lm, seed: int, editor_cls: type, protocol: str = "single") -> FTConfig:
        """The layers filled in (`edit_layers`), so config.json records the layer edited, not `[]`."""
        return replace(self, layers=edit_layers(lm.model, self))


@dataclass
class FTLConfig(FTConfig):
    """FT-L: EasyEdit's constrained fine-tuning ('prompt_last' objective, L-inf ball of 5e-5)."""

    norm_constraint: float = arg(5e-5, lo=0, help="clamp weights into [W0 - eps, W0 + eps] after every step; 0: off")


@dataclass
class FTMConfig(FTConfig):
    """FT-M: masked teacher-forced cross-entropy on the target tokens, no norm constraint."""

    norm_constraint: float = arg(0.0, lo=0, help="> 0: clamp weights into [W0 - eps, W0 + eps] each step; 0: off")


def edit_layers(model: torch.nn.Module, config: FTConfig) -> list[int]:
    """The configured layers, or EasyEdit's reference layer scaled to this model's depth."""
    if config.layers:
        return list(config.layers)
    n = num_layers(model)
    return [min(n - 1, round(REFERENCE_LAYER * n / REFERENCE_DEPTH))]
