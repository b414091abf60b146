"""Instruction memory for the retrieval setting (paper App. B, "Evaluate with Retrieval").

The memory holds edit sentences, each with the case it came from: with `memory=dataset` every edit of the run's
cases from the start (the authors' evals_with_ret.py embeds the `ins` of every record of the evaluated file,
`make_mem(ann)`, before its loop over the records), with `memory=unit` the edits made so far (`edit()` appends,
`reset()` takes them out again).
A query fires when the standard deviation of its top-k scores exceeds a threshold (paper: top 5, 0.1):
then the top entry is the instruction, otherwise the plain model answers. Every score below `fill` (the
background: the typical score of the entries a query does not match) counts as `fill`, and so do the missing
scores of a memory holding fewer than k entries. The spread then comes only from stored edits standing out above
the background, never from how sparse the memory is: the authors' memory is the whole evaluated file (about
1,000 edits), whose 2nd-5th scores sit at the background, while a 20-case run's memory has 2nd-5th scores far
below it, which once made the gate fire on questions merely on the topic of one edit (ZsRE's New York marathon
questions against the IAAF Combined Events edit: top 5 [0.47, 0.21, 0.13, 0.12, 0.11], std 0.15). A one-edit
memory, a sparse one and a dense one decide alike: fire when the top score stands out from the background by
more than the threshold allows. Multi-hop questions take the top-k facts without a gate, as the paper does.

`BACKGROUND` (all-MiniLM-L6-v2) is calibrated on cases no table evaluates, by
`python -m editors.instructed.calibrate_gate` (docs/departures.md, InstructEd): the smallest value, on a 0.01 grid,
at which at most 5% of the neighbourhood prompts of ZsRE's and CounterFact's cases 200-400 fire, in memories of
20 and of 200 of those cases' edits. The threshold stays the paper's 0.1: in a memory of the whole file from
case 200 on (the authors' memory size) it lets 0.5% (ZsRE) and 2.9% (CounterFact) of neighbourhood prompts fire.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import torch

BACKGROUND = 0.36  # all-MiniLM-L6-v2 cosine; see the module docstring and editors/instructed/calibrate_gate.py


def gate(scores: list[float], top_k: int = 5, threshold: float = 0.1, fill: float = BACKGROUND) -> bool:
    """The paper's rule, sample standard deviation (torch.std's default) of the top-k scores > threshold, on the
    scores floored at the background `fill` (missing ones included); with `fill` at or below every score it is the
    paper's rule untouched (evals_with_ret.py: `torch.std(fact_ids[0]) > 0.1`, k=5)."""
    top = [max(score, fill) for score in sorted(scores, reverse=True)[:top_k]]
    top += [fill] * (top_k - len(top))
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
