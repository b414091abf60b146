"""SERAC as published (Mitchell et al., ICML 2022): an edit memory, a trained scope classifier and a trained
counterfactual model; the base model's weights never change.

A query is compared with every edit in memory by the scope classifier (scope.py: exp(-||W u - W v||^2) on frozen
sentence embeddings). If the best edit's in-scope probability exceeds the threshold, the counterfactual model
answers "edit: <edit sentence> query: <query>" (counterfactual.py: the base model with a trained LoRA adapter,
switched on for that row only); otherwise the untouched base model answers the plain query, with exactly its
own logits. Both parts come from `python -m bench train serac` (train.py). Our earlier variant, which conditions
the base model itself on the routed edit, is `serac-icl` (editors/serac_icl).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar

import torch

from bench.arguments import arg
from bench.editor import EditorConfig, PreparedRequests, Request
from bench.errors import BenchError
from bench.scoring import Batch, Prepared
from editors.lora.hooked import HookedLoRA
from editors.lora.targets import target_modules
from editors.serac import checkpoint as ckpt
from editors.serac.counterfactual import counterfactual_prompt
from editors.serac.memory import RoutingEditor
from editors.serac.scope import EmbeddingScope

log = logging.getLogger(__name__)


@dataclass
class SERACConfig(EditorConfig):
    checkpoint: str = arg("", help="checkpoint folder (or a file in it); empty: results/checkpoints/serac/<model>/")
    # The authors' 0.5. Also what keeps a run directory holding `serac` rows of our earlier variant (recorded
    # threshold -1: "the checkpoint's own") from being resumed with this editor: --resume compares the settings.
    threshold: float = arg(0.5, lo=0, hi=1, help="in-scope probability above which a query goes to the "
                                                  "counterfactual model")


class SERAC(RoutingEditor):
    name = "serac"
    config_class: ClassVar[type] = SERACConfig

    def __init__(self, lm, config=None, resources=None):
        super().__init__(lm, config, resources)
        self.checkpoint = ckpt.resolve(self.config.checkpoint, lm.name, "serac", ckpt.INFO).parent
        self.info = ckpt.read_info(self.checkpoint)
        if self.info.steps_done < self.info.total_steps:
            log.warning("serac: the checkpoint in %s is trained %d of %d steps", self.checkpoint,
                        self.info.steps_done, self.info.total_steps)
        self.threshold = self.config.threshold
        self.encoder_name = self.info.encoder
        self.scope = self._load_scope()
        self.adapter = self._load_adapter()

    def in_scope(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        return self.scope.matrix(queries, keys)

    def prepare(self, requests: list[Request]) -> PreparedRequests:
        """Routed requests become the counterfactual model's input (meta True: its adapter is on for that row)."""
        routed = self.route([r.query.prompt for r in requests])  # classify the raw query, not a framing
        items = [Prepared(r.text, r.query.answer, False) if e is None else
                 Prepared(counterfactual_prompt(e, r.text), r.query.answer, True) for r, e in zip(requests, routed)]
        return PreparedRequests(items, [e is not None for e in routed])

    def forward_context(self, batch: Batch):
        rows = torch.tensor([bool(m) for m in batch.metas], device=batch.input_ids.device)
        return self.adapter.active(self.model, rows)

    def describe(self) -> dict:
        return {**super().describe(), "checkpoint_dir": str(self.checkpoint), "encoder": self.encoder_name,
                "counterfactual": f"LoRA rank {self.info.rank} on {self.info.parts}",
                "steps_trained": self.info.steps_done}

    def _load_scope(self) -> EmbeddingScope:
        tensors = ckpt.load_tensors(self.checkpoint, ckpt.SCOPE)
        if tensors is None or not self.info.scope_done:
            raise BenchError(f"serac: {self.checkpoint} has no trained scope classifier ({ckpt.SCOPE}); finish "
                             f"its training with `python -m bench train serac --out {self.checkpoint} --resume`")
        scope = EmbeddingScope(tensors["proj.weight"].shape[1])
        scope.load_state_dict(tensors)
        return scope.eval()

    def _load_adapter(self) -> HookedLoRA:
        tensors = ckpt.load_tensors(self.checkpoint, ckpt.COUNTERFACTUAL)
        if tensors is None:
            raise BenchError(f"serac: {self.checkpoint} has no counterfactual adapter ({ckpt.COUNTERFACTUAL}); "
                             f"finish its training with `python -m bench train serac --out {self.checkpoint} "
                             "--resume`")
        try:
            if target_modules(self.model, self.info.parts, []) != self.info.targets:
                raise BenchError("other modules")
            adapter = HookedLoRA(self.model, self.info.targets, self.info.rank, self.info.alpha)
            adapter.load_tensors(tensors)
        except (BenchError, RuntimeError) as exc:
            raise BenchError(f"serac: the checkpoint in {self.checkpoint} was trained for model "
                             f"'{self.info.model}' and does not fit '{self.lm.name}' ({exc}); train one with "
                             f"`python -m bench train serac --model {self.lm.name}`") from exc
        return adapter.to(self.lm.device).requires_grad_(False)
