"""GRACE's discrete key-value codebook: keys, trainable values, deferral radii and edit labels.

Update rule on a new edit key (Hartvigsen et al. 2023): with no key within
`eps_init + eps_j` a new entry is added; a close key with the same label has
its radius expanded to cover the new key ('coverage'); a close key with a
different label is split: both radii become half the distance. A new key that
coincides with an old one (distance ~0) but has a different label replaces the
old entry's value and label instead (the newest edit wins; splitting would leave
both radii at zero).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import torch

SAME_KEY = 1e-6


@dataclass
class Codebook:
    eps_init: float
    keys: list[torch.Tensor] = field(default_factory=list)  # (key_dim,) each, detached
    values: list[torch.nn.Parameter] = field(default_factory=list)  # (value_dim,) each
    eps: list[float] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.keys)

    def to_tensors(self) -> dict[str, torch.Tensor]:
        """The whole codebook as tensors (a sequential run's saved state); labels as UTF-8 JSON bytes."""
        if not self.keys:
            return {}
        labels = torch.frombuffer(bytearray(json.dumps(self.labels).encode()), dtype=torch.uint8)
        return {"keys": torch.stack(self.keys), "values": torch.stack([v.detach() for v in self.values]),
                "eps": torch.tensor(self.eps, dtype=torch.float64), "labels": labels}

    @classmethod
    def from_tensors(cls, eps_init: float, tensors: dict[str, torch.Tensor], device=None) -> Codebook:
        if not tensors:
            return cls(eps_init)
        labels = json.loads(bytes(tensors["labels"].tolist()).decode())
        keys = [k.to(device).clone() for k in tensors["keys"]]
        values = [torch.nn.Parameter(v.to(device).clone(), requires_grad=False) for v in tensors["values"]]
        return cls(eps_init, keys, values, tensors["eps"].tolist(), labels)

    def nearest(self, queries: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(distance, index, within-radius mask) of each query row's nearest key (Euclidean, fp32)."""
        keys = torch.stack(self.keys).to(queries.device)
        dist = torch.cdist(queries.float(), keys.float())
        best, idx = dist.min(dim=1)
        radii = torch.tensor(self.eps, device=queries.device)[idx]
        return best, idx, best <= radii

    def stacked_values(self, idx: torch.Tensor) -> torch.Tensor:
        """Values of the given entries (differentiable w.r.t. trainable values)."""
        return torch.stack([self.values[i] for i in idx.tolist()])

    def insert(self, key: torch.Tensor, value: torch.Tensor, label: str) -> int:
        """Apply the update rule for an edit key; returns the index of the entry whose value to train."""
        key = key.detach().float()
        if not self.keys:
            return self._add(key, value, label)
        dist, idx, _ = self.nearest(key[None])
        d, j = float(dist[0]), int(idx[0])
        if d > self.eps_init + self.eps[j]:
            return self._add(key, value, label)
        if self.labels[j] == label:
            self.eps[j] = max(self.eps[j], d)
            return j
        if d <= SAME_KEY:
            self.values[j] = torch.nn.Parameter(value.detach().clone())
            self.labels[j] = label
            return j
        self.eps[j] = d / 2 - 1e-5
        new = self._add(key, value, label)
        self.eps[new] = d / 2
        return new

    def _add(self, key: torch.Tensor, value: torch.Tensor, label: str) -> int:
        self.keys.append(key)
        self.values.append(torch.nn.Parameter(value.detach().clone()))
        self.eps.append(self.eps_init)
        self.labels.append(label)
        return len(self.keys) - 1
