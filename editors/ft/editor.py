"""FT-L and FT-M: fine-tune one MLP output projection towards the new targets (after EasyEdit's FT).

All edit prompts of the cases handed to `edit()` form one mini-batch; Adam runs
`num_steps` steps on it, stopping early once the loss is below `early_stop_loss`.
With a norm constraint the weights are clamped after every step into an L-inf
ball around their values at the start of this `edit()` call (as EasyEdit does,
so sequential edits may drift further in total). Only the edited weights ever
require grad, and `reset()` restores them bitwise.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from bench.arch import module_path
from bench.data.schema import EditCase
from bench.editor import Capabilities, Editor
from bench.errors import BenchError
from bench.optim import minimize
from bench.restore import RestoredWeights, WeightRestorer
from bench.scoring import Prepared
from editors.ft.config import FTConfig, FTLConfig, FTMConfig, edit_layers
from editors.ft.objectives import OBJECTIVES, encode_rows


class FTEditor(RestoredWeights, Editor):  # each edit starts a new optimizer: its state is the weights
    capabilities = Capabilities(changes_weights=True, batch=True, sequential=True)
    config_class: ClassVar[type] = FTConfig
    objective: ClassVar[str] = "target_new"

    def __init__(self, lm, config=None, resources=None):
        super().__init__(lm, config, resources)
        self.config = self.config.resolved(lm, self.resources.seed, type(self))  # layers: the ones edited
        self.restorer = WeightRestorer(self.model)
        self.last_losses: list[float] = []  # loss before each step of the latest edit (for inspection)

    def weight_names(self) -> list[str]:
        return [f"{module_path(self.model, layer, 'mlp_out')}.weight" for layer in edit_layers(self.model, self.config)]

    def edit(self, cases: list[EditCase]) -> None:
        items = [Prepared(e.prompt, e.target_new) for case in cases for e in case.edits]
        if not items:
            raise BenchError(f"editor '{self.name}': the cases to edit contain no edits")
        names = self.weight_names()
        self.restorer.save(names)
        params = dict(self.model.named_parameters())
        self._train([params[n] for n in names], items)

    def _train(self, weights: list[torch.nn.Parameter], items: list[Prepared]) -> None:
        cfg = self.config
        loss_fn = OBJECTIVES[self.objective]
        rows = encode_rows(self.scorer, items)
        start = [w.detach().clone() for w in weights] if cfg.norm_constraint > 0 else []
        opt = torch.optim.Adam(weights, lr=cfg.lr, weight_decay=cfg.weight_decay)
        clamp = (lambda: _clamp(weights, start, cfg.norm_constraint)) if start else None
        for w in weights:
            w.requires_grad_(True)
        try:
            self.last_losses = minimize(lambda: loss_fn(self.scorer, rows), opt, cfg.num_steps,
                                        cfg.early_stop_loss, clamp)
        finally:
            for w in weights:
                w.requires_grad_(False)
                w.grad = None


@torch.no_grad()
def _clamp(weights: list[torch.Tensor], start: list[torch.Tensor], eps: float) -> None:
    for w, w0 in zip(weights, start):
        torch.clamp(w, min=w0 - eps, max=w0 + eps, out=w)


class FTL(FTEditor):
    name = "ft-l"
    config_class = FTLConfig
    objective = "prompt_last"


class FTM(FTEditor):
    name = "ft-m"
    config_class = FTMConfig
    objective = "target_new"
