"""LoRA baseline: a peft low-rank adapter trained on the edits with FT-M's objective.

The adapter is injected in place into the model the scorer already uses, so
scoring needs nothing special. Base weights are never written: `reset()`
unloads the adapter (peft puts the original modules back), which restores the
parameter set bitwise. Batch edits form one mini-batch. Sequential editing
either keeps training the one adapter on each new batch (`accumulate`, the
default: earlier edits may fade, which is what sequential studies measure) or
re-initialises it and trains on every edit so far (`retrain`).
"""

from __future__ import annotations

from typing import ClassVar

import torch

from bench.arch import arch_of
from bench.data.schema import EditCase
from bench.editor import Capabilities, Editor, check_choice
from bench.errors import BenchError
from bench.optim import minimize
from bench.scoring import Prepared
from editors.ft.objectives import encode_rows, target_new_nll
from editors.lora.config import SEQUENTIAL_MODES, LoRAConfig
from editors.lora.targets import target_modules

ADAPTER = "edit"


class LoRA(Editor):
    name = "lora"
    capabilities = Capabilities(changes_weights=True, batch=True, sequential=True)
    config_class: ClassVar[type] = LoRAConfig

    def __init__(self, lm, config=None, resources=None):
        super().__init__(lm, config, resources)
        check_choice("lora", "sequential", self.config.sequential, SEQUENTIAL_MODES)
        self.targets = target_modules(self.model, self.config.parts, self.config.layers)
        self._tuner = None
        self._history: list[Prepared] = []  # every edit since the last reset (for 'retrain')
        self.last_losses: list[float] = []

    def edit(self, cases: list[EditCase]) -> None:
        items = [Prepared(e.prompt, e.target_new) for case in cases for e in case.edits]
        if not items:
            raise BenchError("lora: the cases to edit contain no edits")
        self._history += items
        if self._tuner is None or self.config.sequential == "retrain":
            self._unload()
            self._inject()
            items = self._history if self.config.sequential == "retrain" else items
        self._train(items)

    def reset(self) -> None:
        self._unload()
        self._history = []

    def describe(self) -> dict:
        return {**super().describe(), "target_modules": len(self.targets), "first_target": self.targets[0]}

    @torch.no_grad()
    def weight_deltas(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """The adapted weights' effective change (scaling x B @ A, peft's own `get_delta_weight`)."""
        from peft.tuners.lora import LoraLayer

        return {f"{name}.weight": (m.get_base_layer().weight, m.get_delta_weight(ADAPTER))
                for name, m in self.model.named_modules() if isinstance(m, LoraLayer) and ADAPTER in m.lora_A}

    def adapter_parameters(self) -> list[torch.nn.Parameter]:
        return [p for n, p in self.model.named_parameters() if f".{ADAPTER}." in n and "lora_" in n]

    def _inject(self) -> None:
        from peft import LoraConfig
        from peft.tuners.lora import LoraModel

        cfg = self.config
        peft_cfg = LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                              target_modules=self.targets, fan_in_fan_out=arch_of(self.model).conv1d)
        with torch.random.fork_rng(devices=[]):  # reproducible A init, global RNG untouched
            torch.manual_seed(self.resources.seed)
            self._tuner = LoraModel(self.model, peft_cfg, ADAPTER)

    def _unload(self) -> None:
        if self._tuner is not None:
            self._tuner.unload()  # puts every original module back in place
            self._tuner = None

    def _train(self, items: list[Prepared]) -> None:
        cfg = self.config
        params = self.adapter_parameters()
        rows = encode_rows(self.scorer, items)
        opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        dropouts = [m for n, m in self.model.named_modules() if n.endswith(f"lora_dropout.{ADAPTER}")]
        for m in dropouts:
            m.train()
        try:
            self.last_losses = minimize(lambda: target_new_nll(self.scorer, rows), opt, cfg.num_steps,
                                        cfg.early_stop_loss)
        finally:
            for m in dropouts:
                m.eval()
            for p in params:
                p.grad = None
