"""SERAC: an edit memory, a scope classifier and a counterfactual model; the base model's weights never change.

A query is compared with every edit in memory by the scope classifier (a
trained head on frozen sentence embeddings, see classifier.py). If the best
edit's in-scope probability exceeds the threshold, the *counterfactual model*
answers: here the base model itself conditioned on that edit, in IKE's
`New Fact: <edit sentence>\\nPrompt: <query>` block (no second model is
trained). Otherwise the untouched base model answers the plain query. Memory
accumulates over `edit()` calls (batch and sequential); `reset()` empties it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from bench.arguments import arg
from bench.data.schema import Edit, EditCase
from bench.editor import Capabilities, Editor, EditorConfig, PreparedRequests, Request
from bench.errors import BenchError
from bench.scoring import Prepared
from editors.ike.demos import fact_block
from editors.serac.checkpoint import resolve_checkpoint
from editors.serac.classifier import ScopeClassifier


@dataclass
class SERACConfig(EditorConfig):
    checkpoint: str = arg("", help="scope classifier file or folder; empty: results/checkpoints/serac/<model>/")
    threshold: float = arg(-1.0, hi=1, note="a probability; < 0: the checkpoint's own",
                           help="in-scope probability above which a query is routed to the counterfactual model")


class SERAC(Editor):
    name = "serac"
    capabilities = Capabilities(changes_weights=False, batch=True, sequential=True)
    config_class: ClassVar[type] = SERACConfig

    def __init__(self, lm, config=None, resources=None):
        super().__init__(lm, config, resources)
        self.checkpoint = resolve_checkpoint(self.config.checkpoint, lm.name)
        self.classifier, self.meta = ScopeClassifier.load(self.checkpoint)
        self.threshold = self.config.threshold if self.config.threshold >= 0 else float(self.meta["threshold"])
        self.encoder_name = self.meta.get("encoder") or self.resources.encoder_name
        self.memory: list[Edit] = []
        self._keys = torch.zeros((0, self.classifier.dim))

    def edit(self, cases: list[EditCase]) -> None:
        edits = [e for case in cases for e in case.edits]
        if not edits:
            raise BenchError("serac: the cases to edit contain no edits")
        self.memory += edits
        self._keys = torch.cat([self._keys, self._embed([e.prompt for e in edits])])

    def reset(self) -> None:
        self.memory = []
        self._keys = torch.zeros((0, self.classifier.dim))

    def route(self, queries: list[str]) -> list[Edit | None]:
        """The in-scope edit for each query, or None (the base model answers)."""
        if not self.memory or not queries:
            return [None] * len(queries)
        probs = self.classifier.matrix(self._embed(queries), self._keys)
        best, idx = probs.max(dim=1)
        return [self.memory[i] if p > self.threshold else None for p, i in zip(best.tolist(), idx.tolist())]

    def prepare(self, requests: list[Request]) -> PreparedRequests:
        """The routed edit's fact before each in-scope query; one routing call for the batch."""
        routed = self.route([r.query.prompt for r in requests])  # classify the raw query, not a framing
        items = [Prepared(r.text if e is None else fact_block(e.sentence, r.text), r.query.answer)
                 for r, e in zip(requests, routed)]
        return PreparedRequests(items, [e is not None for e in routed])

    def describe(self) -> dict:
        return {**super().describe(), "checkpoint_file": str(self.checkpoint), "threshold_used": self.threshold,
                "encoder": self.encoder_name}

    def _embed(self, texts: list[str]) -> torch.Tensor:
        return self.resources.encoder(self.encoder_name).encode(texts).float().cpu()
