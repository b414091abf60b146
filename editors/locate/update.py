"""Closed-form weight updates, as deltas in (out_features, in_features) layout, computed in float64.

- `rank_one_delta` (ROME, Meng et al. 2022, Eq. 2): with u = C^-1 k* (k* the
  mean key), delta = r u^T / (u . k_anchor), so the module maps the anchor key
  (the bare prompt's key) to its old output + r exactly, and keys orthogonal to
  u in the C metric are left alone. C = None means C = I.
- `spread_delta` (MEMIT, Meng et al. 2023, Eq. 14; PMET): the least-squares
  update delta = R^T K (lambda C + K^T K)^-1 for n keys K (n, d_in) and
  residuals R (n, d_out), trading the new memories against lambda-weighted
  preservation of the old ones (C = None means C = I).
"""

from __future__ import annotations

import torch


def _cov(cov: torch.Tensor | None, d: int, device) -> torch.Tensor:
    if cov is None:
        return torch.eye(d, dtype=torch.float64, device=device)
    return cov.to(device=device, dtype=torch.float64)


def rank_one_delta(key_mean: torch.Tensor, anchor_key: torch.Tensor, residual: torch.Tensor,
                   cov: torch.Tensor | None) -> torch.Tensor:
    k, anchor, r = key_mean.double(), anchor_key.double(), residual.double()
    u = torch.linalg.solve(_cov(cov, k.shape[0], k.device), k)
    return torch.outer(r, u) / (u @ anchor)


def spread_delta(keys: torch.Tensor, residuals: torch.Tensor, cov: torch.Tensor | None,
                 weight: float) -> torch.Tensor:
    k, r = keys.double(), residuals.double()
    a = weight * _cov(cov, k.shape[1], k.device) + k.T @ k
    return torch.linalg.solve(a, k.T @ r).T
