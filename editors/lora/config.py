"""Typed hyper-parameters of the LoRA baseline (EasyEdit's LLaMA-7B settings: rank 8, alpha 32, lr 5e-3)."""

from __future__ import annotations

from dataclasses import dataclass, field

from editors.base import EditorConfig

SEQUENTIAL_MODES = ("accumulate", "retrain")


@dataclass
class LoRAConfig(EditorConfig):
    rank: int = 8
    alpha: int = 32
    dropout: float = 0.0  # EasyEdit uses 0.1 in train mode; 0 keeps edits deterministic
    lr: float = 5e-3
    num_steps: int = 70
    weight_decay: float = 0.0
    early_stop_loss: float = 1e-2  # stop once the mini-batch loss falls below this
    parts: str = "q,v"  # arch-table parts to adapt (comma-separated); fused q/k/v models use 'qkv'
    layers: list[int] = field(default_factory=list)  # empty: every layer
    sequential: str = "accumulate"  # accumulate: keep training one adapter; retrain: fresh adapter on all edits
