"""SERAC's edit memory and routing, shared by the published SERAC and our variant `serac-icl`.

Edits are stored as they come (batch and sequential editing accumulate; `reset()` empties the memory); each is
keyed by the sentence embedding of its edit prompt. A query goes to the stored edit its scope classifier rates
most in scope, if that probability exceeds the threshold (the authors' 0.5: EasyEdit easyeditor/trainer/algs/
SERAC.py `generate`, `cls_sims.item() > 0.5`); otherwise to the base model. The two editors differ in their
classifier (`in_scope`) and in what answers a routed query (their `prepare` and forward context).
"""

from __future__ import annotations

import abc

import torch

from bench.data.schema import Edit, EditCase
from bench.editor import Capabilities, Editor
from bench.errors import BenchError


class RoutingEditor(Editor):
    """An edit memory and a scope classifier over sentence embeddings; subclasses set `encoder_name` and
    `threshold` in their __init__ and implement `in_scope`."""

    capabilities = Capabilities(changes_weights=False, batch=True, sequential=True)
    encoder_name: str
    threshold: float

    def __init__(self, lm, config=None, resources=None):
        super().__init__(lm, config, resources)
        self.memory: list[Edit] = []
        self.keys: torch.Tensor | None = None  # one embedded edit prompt per memory entry

    @abc.abstractmethod
    def in_scope(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """(len(queries), len(keys)) in-scope probabilities from the queries' and edit prompts' embeddings."""

    def edit(self, cases: list[EditCase]) -> None:
        edits = [e for case in cases for e in case.edits]
        if not edits:
            raise BenchError(f"{self.name}: the cases to edit contain no edits")
        new = self.embed([e.prompt for e in edits])
        self.memory += edits
        self.keys = new if self.keys is None else torch.cat([self.keys, new])

    def reset(self) -> None:
        self.memory, self.keys = [], None

    def route(self, queries: list[str]) -> list[Edit | None]:
        """The in-scope edit for each query, or None (the base model answers)."""
        if not self.memory or not queries:
            return [None] * len(queries)
        best, idx = self.in_scope(self.embed(queries), self.keys).max(dim=1)
        return [self.memory[i] if p > self.threshold else None for p, i in zip(best.tolist(), idx.tolist())]

    def embed(self, texts: list[str]) -> torch.Tensor:
        return self.resources.encoder(self.encoder_name).encode(texts).float().cpu()
