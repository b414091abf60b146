"""Instruction memory for the retrieval setting (paper App. B, "Evaluate with Retrieval").

The memory holds edit sentences, each with the case it came from: with `memory=dataset` every edit of the run's
cases from the start (the authors' evals_with_ret.py embeds the `ins` of every record of the evaluated file,
`make_mem(ann)`, before its loop over the records), with `memory=unit` the edits made so far (`edit()` appends,
`reset()` takes them out again).
A query fires when the standard deviation of its top-k scores exceeds a threshold (paper: top 5, 0.1):
then the top entry is the instruction, otherwise the plain model answers. While the memory holds fewer
than k entries the missing scores count as `fill` (the typical score of an unrelated entry), so a
single-edit memory still has a defined spread; a missing entry never scores above the entries that are there,
so the spread comes only from stored edits standing out above the background, never from a query that is
less similar to every stored edit than the background is (which once made the gate fire on unrelated
questions). Multi-hop questions take the top-k facts without a gate, as the paper does.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import torch


def gate(scores: list[float], top_k: int = 5, threshold: float = 0.1, fill: float = 0.3) -> bool:
    """The paper's rule: sample standard deviation (torch.std's default) of the top-k scores > threshold."""
    top = sorted(scores, reverse=True)[:top_k]
    top += [min([fill, *top])] * (top_k - len(top))  # padding below the stored scores, never above
    if len(top) < 2:
        return False
    return statistics.stdev(top) > threshold


Owner = tuple[str, str]  # (dataset, case id) of the case an entry is an edit of


@dataclass(frozen=True)
class Hit:
    index: int
    text: str
    score: float
    owner: Owner


class InstructionMemory:
    """Edit sentences, the case each came from, and their (normalised) encoder embeddings."""

    def __init__(self, encoder):
        self.encoder = encoder
        self.entries: list[str] = []
        self.owners: list[Owner] = []
        self._embeddings: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, texts: list[str], owners: list[Owner]) -> None:
        if len(texts) != len(owners):
            raise ValueError(f"{len(texts)} memory entries with {len(owners)} owners")
        if texts:
            self.entries.extend(texts)
            self.owners.extend(owners)
            new = self.encoder.encode(texts)
            self._embeddings = new if self._embeddings is None else torch.cat([self._embeddings, new])

    def truncate(self, n: int) -> None:
        """Keep the first `n` entries (0: empty)."""
        del self.entries[n:], self.owners[n:]
        self._embeddings = self._embeddings[:n] if n and self._embeddings is not None else None

    def clear(self) -> None:
        self.truncate(0)

    def scores(self, query_embeddings: torch.Tensor) -> torch.Tensor:
        """(n_queries, len(self)) cosine similarities."""
        if self._embeddings is None:
            return torch.zeros((query_embeddings.shape[0], 0))
        return query_embeddings @ self._embeddings.T

    def ranked(self, row: torch.Tensor, k: int) -> list[Hit]:
        """The top-k entries of one score row, best first."""
        values, indices = row.topk(min(k, row.numel()))
        return [Hit(int(i), self.entries[int(i)], float(v), self.owners[int(i)]) for v, i in zip(values, indices)]
