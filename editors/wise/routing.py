"""WISE's activation distances, its margin loss (paper Eq. 5) and the router (paper Eq. 4).

The distance of a token is how far the side memory moves the projection's output: ||A(x)(W_side - W_main)||
(the paper), or with the model's activation function applied to both outputs first (the authors' `euc`,
WISE.py lines 30-45). A row's distance is the mean over a span of its tokens: the prompt (everything before
the answer) for edit rows and queries, the whole text for irrelevant rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

MAIN = -1  # route: no side memory answers


@dataclass(frozen=True)
class Routing:
    """One full pass's decision, kept for diagnosis (bench/paper/analysis/wise_routing.py): (rows, memories)
    distances, (memories,) thresholds, and each row's memory (MAIN: none)."""

    distances: torch.Tensor
    thresholds: torch.Tensor
    choice: torch.Tensor


def side_difference(x: torch.Tensor, side: torch.Tensor, main: torch.Tensor, conv1d: bool) -> torch.Tensor:
    """x (W_side - W_main) in float32: what the side memory adds to the projection's output (bias cancels)."""
    delta = side - main
    return x.float() @ (delta if conv1d else delta.T)


def token_distance(output: torch.Tensor, difference: torch.Tensor,
                   activation: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """(rows, tokens) distances between the side and main outputs; `activation` for the authors' variant."""
    if activation is None:
        return difference.norm(dim=-1)
    main = output.float()
    return (activation(main + difference) - activation(main)).norm(dim=-1)


def span_mask(pads: list[int], lengths: list[int], width: int, device=None) -> torch.Tensor:
    """(rows, width) True on each left-padded row's first `lengths[r]` tokens."""
    cols = torch.arange(width, device=device)
    start = torch.tensor(pads, device=device)[:, None]
    return (cols >= start) & (cols < start + torch.tensor(lengths, device=device)[:, None])


def row_distance(token_dist: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean token distance over each row's span."""
    mask = mask.to(token_dist.dtype)
    return (token_dist * mask).sum(-1) / mask.sum(-1).clamp(min=1)


def _mean_positive(t: torch.Tensor) -> torch.Tensor:
    """Mean of the positive entries (0 when none): the authors' hinge average (WISE.py lines 312-314)."""
    positive = t > 0
    return t[positive].mean() if bool(positive.any()) else t.new_zeros(())


def margin_loss(edit_dist: torch.Tensor, irrelevant_dist: torch.Tensor, alpha: float, beta: float,
                gamma: float) -> torch.Tensor:
    """Eq. 5 per edit, averaged: ReLU(d(x_i) - alpha) + ReLU(beta - d(x_e)) + ReLU(gamma - (d(x_e) - d(x_i))).

    `edit_dist` is (edits, templates): each edit's prompt under every context template; `irrelevant_dist`
    (edits,): each edit's irrelevant prompt x_i.
    """
    losses = [_mean_positive(out - alpha) + _mean_positive(beta - inside) + _mean_positive(out - inside + gamma)
              for inside, out in zip(edit_dist, irrelevant_dist)]
    return torch.stack(losses).mean()


def route(distances: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """Per row, the memory with the largest distance among those at or above their threshold; MAIN if none.

    `distances` is (rows, memories), `thresholds` (memories,). Ties go to the earlier memory.
    """
    passing = distances >= thresholds[None, :]
    best = torch.where(passing, distances, torch.full_like(distances, -torch.inf)).argmax(dim=1)
    return torch.where(passing.any(dim=1), best, torch.full_like(best, MAIN))
