"""The small gradient loop FT, LoRA and GRACE share (step until a budget or an early-stop loss), and the optimizer
state a resumable training run (InstructEd, SERAC) saves and restores."""

from __future__ import annotations

from collections.abc import Callable

import torch


def minimize(loss_fn: Callable[[], torch.Tensor], optimizer: torch.optim.Optimizer, steps: int,
             early_stop_loss: float, after_step: Callable[[], None] | None = None) -> list[float]:
    """At most `steps` optimizer steps; stops once the loss is below `early_stop_loss`.

    Returns the loss seen before each step (the last one is the final loss), which editors keep for
    diagnostics. `after_step` runs after every step (FT's norm constraint)."""
    losses: list[float] = []
    for _ in range(steps):
        loss = loss_fn()
        losses.append(loss.item())
        if losses[-1] < early_stop_loss:
            break
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if after_step is not None:
            after_step()
    return losses


def optimizer_tensors(optimizer: torch.optim.Optimizer, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The optimizer's per-parameter state as flat tensors named '<parameter>/<key>' (for safetensors), so a
    resumed training run continues with the same moments."""
    out = {}
    for name, param in module.named_parameters():
        for key, value in optimizer.state.get(param, {}).items():
            out[f"{name}/{key}"] = value.reshape(-1) if value.ndim == 0 else value
    return out


def restore_optimizer(optimizer: torch.optim.Optimizer, module: torch.nn.Module,
                      tensors: dict[str, torch.Tensor]) -> None:
    """Put back what `optimizer_tensors` saved."""
    for name, param in module.named_parameters():
        state = {key.split("/", 1)[1]: value for key, value in tensors.items() if key.split("/", 1)[0] == name}
        if state:
            state["step"] = state["step"].reshape(())
            optimizer.state[param] = {k: v.to(param.device) if k != "step" else v for k, v in state.items()}
