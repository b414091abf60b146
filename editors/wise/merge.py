"""Ties merging of side-memory shards (Yadav et al. 2023), as WISE merges its knowledge shards.

Each shard's task vector (shard - base) keeps only its `density` share of largest-magnitude entries; the
weighted vectors then vote on a sign per entry (the sign of their sum), and each entry becomes the weighted
mean of the vectors that agree with that sign. The authors' code (EasyEdit easyeditor/models/wise/merge/gta.py,
`GTA('magnitude', 'sum', normalize=True)`, WISE.py line 18) computes the same.
"""

from __future__ import annotations

import torch


def keep_largest(delta: torch.Tensor, density: float) -> torch.Tensor:
    """`delta` with all but its int(density * numel) largest-magnitude entries set to zero."""
    if density >= 1:
        return delta
    k = int(density * delta.numel())
    if k <= 0:
        return torch.zeros_like(delta)
    flat = delta.reshape(-1)
    keep = torch.zeros_like(flat, dtype=torch.bool)
    keep[flat.abs().float().topk(k).indices] = True
    return torch.where(keep, flat, torch.zeros_like(flat)).view_as(delta)


def ties_merge(base: torch.Tensor, shards: list[torch.Tensor], weights: list[float], density: float) -> torch.Tensor:
    """base + the sign-agreeing weighted mean of the shards' sparsified task vectors."""
    if len(shards) != len(weights) or not shards:
        raise ValueError(f"ties_merge needs one weight per shard, got {len(weights)} for {len(shards)}")
    deltas = torch.stack([keep_largest(s - base, density) for s in shards])
    w = torch.tensor(weights, dtype=deltas.dtype, device=deltas.device).view(-1, *[1] * base.dim())
    weighted = deltas * w
    majority = torch.where(weighted.sum(0) >= 0, 1.0, -1.0).to(deltas.dtype)
    agree = (weighted.sign() == majority).to(deltas.dtype)
    divisor = (w * agree).sum(0)
    divisor[divisor == 0] = 1
    return base + (weighted * agree).sum(0) / divisor
