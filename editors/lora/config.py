"""Typed hyper-parameters of the LoRA baseline (EasyEdit's LLaMA-7B settings: rank 8, alpha 32, lr 5e-3)."""

from __future__ import annotations

from dataclasses import dataclass

from bench.arguments import MAX_COUNT, MAX_STEPS, arg
from bench.editor import EditorConfig

SEQUENTIAL_MODES = ("accumulate", "retrain")
# Arch-table projections an adapter can wrap (whole attention / MLP blocks and norms are not linear layers).
PROJECTIONS = ("q", "k", "v", "qkv", "o", "mlp_in", "mlp_gate", "mlp_out")


@dataclass
class LoRAConfig(EditorConfig):
    rank: int = arg(8, lo=1, hi=MAX_COUNT, help="rank of the low-rank update B @ A")
    alpha: int = arg(32, lo=1, hi=MAX_COUNT, help="LoRA scaling numerator: the update is scaled by alpha / rank")
    dropout: float = arg(0.0, lo=0, below=1,
                         help="LoRA dropout (EasyEdit uses 0.1 in train mode; 0 keeps edits deterministic)")
    lr: float = arg(5e-3, above=0, help="Adam learning rate")
    num_steps: int = arg(70, lo=1, hi=MAX_STEPS, help="optimisation steps per edit (fewer when the loss stops early)")
    weight_decay: float = arg(0.0, lo=0, help="Adam weight decay")
    early_stop_loss: float = arg(1e-2, lo=0, help="stop once the mini-batch loss falls below this")
    parts: str = arg("q,v", choices=PROJECTIONS, sep=",",
                     help="arch-table projections that get an adapter (comma-separated; fused q/k/v: 'qkv')")
    layers: list[int] = arg(factory=list, lo=0, layer=True, help="layers that get adapters; empty: every layer")
    sequential: str = arg("accumulate", choices=SEQUENTIAL_MODES,
                          help="accumulate: keep training one adapter; retrain: a fresh adapter on all edits so far")

    def check_model(self, editor: str, lm, editor_cls) -> None:
        """Every part must exist in this architecture (GPT-2 has no gate; q, k, v map to its fused qkv)."""
        from bench.errors import BenchError
        from editors.lora.targets import target_modules

        try:
            target_modules(lm.model, self.parts, self.layers)
        except BenchError as exc:
            raise BenchError(f"editor '{editor}': argument parts={self.parts!r} does not fit model "
                             f"'{lm.name}': {exc}") from exc
