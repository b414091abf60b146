"""WISE's side memories: the shard being written, finished shards, merged groups, and their thresholds.

A side memory is a copy of the main memory's weight (kept in float32, in the module's storage layout) that
edits write into; the model's own weight is never changed. Edits go into the *current* shard through a
random gradient mask (knowledge sharding, `mask_ratio`); every `save_freq` edit() calls the shard is
finished and a fresh copy of the main weight takes its place, and every `merge_freq` calls finished shards
are Ties-merged:

- retrieve mode (WISE-Retrieve, the released config): the last merge_freq/save_freq shards merge into one
  memory that stays beside the earlier ones; each memory keeps its own threshold (the smallest edit
  distance among its edits).
- merge mode (WISE-Merge): all finished shards merge into the one merged side memory (into the existing
  merged memory with weights 0.4 for the new shards and 0.6 for it, WISE.py line 446); one threshold for all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from editors.wise.merge import ties_merge

NEW_SHARE, OLD_SHARE = 0.4, 0.6  # merging new shards into an existing merged memory (WISE.py line 446)


@dataclass
class Memory:
    weight: torch.Tensor  # float32, the module's storage layout
    min_act: float = math.inf  # the smallest mean edit distance among the edits written into it
    edits: int = 0  # edits written into it


@dataclass
class SideMemories:
    main: torch.Tensor  # float32 copy of the main memory's weight (never trained)
    retrieve: bool
    current: Memory = field(init=False)
    saved: list[Memory] = field(default_factory=list)  # retrieve: shards and merged groups; merge: shards to merge
    merged: Memory | None = None  # merge mode: the merged side memory
    mask: torch.Tensor | None = None  # the current shard's gradient mask
    calls: int = 0  # edit() calls written so far
    min_all: float = math.inf  # the smallest mean edit distance of all edits (merge mode's one threshold)

    def __post_init__(self):
        self.current = Memory(self.main.clone())

    def candidates(self) -> list[Memory]:
        """The memories a query may be routed to: those that hold edits."""
        return [m for m in (self.current, *self.saved, self.merged) if m is not None and m.edits]

    def total_edits(self) -> int:
        return sum(m.edits for m in (self.current, *self.saved, self.merged) if m is not None)

    def threshold(self, memory: Memory, act_ratio: float) -> float:
        """Retrieve: the memory's own smallest edit distance; merge: the smallest over all edits (scaled)."""
        return (memory.min_act if self.retrieve else self.min_all) * act_ratio

    def record(self, distance: float) -> None:
        """An edit's mean in-scope distance, measured after it was written."""
        self.current.min_act = min(self.current.min_act, distance)
        self.current.edits += 1
        self.min_all = min(self.min_all, distance)

    def finish_call(self, save_freq: int, merge_freq: int, density: float, weight: float) -> None:
        """Count an edit() call; finish the shard every `save_freq` calls and merge every `merge_freq`."""
        self.calls += 1
        if self.calls % save_freq == 0:
            self.saved.append(self.current)
            self.current, self.mask = Memory(self.main.clone()), None
        if self.calls % merge_freq == 0:
            self._merge(merge_freq // save_freq, density, weight)

    def _merge(self, n: int, density: float, weight: float) -> None:
        if self.retrieve:
            group, self.saved = self.saved[-n:], self.saved[:-n]
            merged = ties_merge(self.main, [m.weight for m in group], [weight / n] * n, density)
            self.saved.append(Memory(merged, min(m.min_act for m in group), sum(m.edits for m in group)))
            return
        shards, k = [m.weight for m in self.saved], len(self.saved)
        weights = [weight / k] * k
        edits = sum(m.edits for m in self.saved)
        if self.merged is not None:
            shards, weights = shards + [self.merged.weight], [NEW_SHARE / k] * k + [OLD_SHARE]
            edits += self.merged.edits
        self.merged = Memory(ties_merge(self.main, shards, weights, density), self.min_all, edits)
        self.saved = []

    # -- sequential state -----------------------------------------------------------------
    def tensors(self) -> dict[str, torch.Tensor]:
        """Everything written so far, as tensors (the main copy is the model's and is not included)."""
        named = {"current": self.current, **{f"saved{i}": m for i, m in enumerate(self.saved)}}
        if self.merged is not None:
            named["merged"] = self.merged
        out = {"counts": torch.tensor([self.calls, len(self.saved)]), "min_all": torch.tensor(self.min_all)}
        if self.mask is not None:
            out["mask"] = self.mask
        for name, m in named.items():
            out[f"{name}.weight"] = m.weight
            out[f"{name}.stats"] = torch.tensor([m.min_act, m.edits], dtype=torch.float64)
        return {k: v.detach().clone() for k, v in out.items()}

    def load(self, tensors: dict[str, torch.Tensor]) -> None:
        """Back into the state `tensors()` described."""
        def memory(name: str) -> Memory:
            min_act, edits = tensors[f"{name}.stats"].tolist()
            return Memory(tensors[f"{name}.weight"].to(self.main.device, torch.float32), min_act, int(edits))

        self.calls, n_saved = (int(v) for v in tensors["counts"])
        self.min_all = float(tensors["min_all"])
        self.current = memory("current")
        self.saved = [memory(f"saved{i}") for i in range(n_saved)]
        self.merged = memory("merged") if "merged.weight" in tensors else None
        self.mask = tensors["mask"].to(self.main.device) if "mask" in tensors else None
