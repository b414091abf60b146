"""The small gradient loop FT, LoRA, GRACE and WISE share: step until a budget or an early-stop loss."""

from __future__ import annotations

from collections.abc import Callable

import torch


def minimize(loss_fn: Callable[[], torch.Tensor], optimizer: torch.optim.Optimizer, steps: int,
             early_stop_loss: float, after_step: Callable[[], None] | None = None,
             plateau: float | None = None) -> list[float]:
    """At most `steps` optimizer steps; stops once the loss is below `early_stop_loss` (and, with `plateau`,
    changed by at most that since the previous step: WISE's criterion).

    Returns the loss seen before each step (the last one is the final loss), which editors keep for
    diagnostics. `after_step` runs after every step (FT's norm constraint)."""
    losses: list[float] = []
    for _ in range(steps):
        loss = loss_fn()
        losses.append(loss.item())
        flat = plateau is None or (len(losses) > 1 and abs(losses[-1] - losses[-2]) <= plateau)
        if losses[-1] < early_stop_loss and flat:
            break
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if after_step is not None:
            after_step()
    return losses
