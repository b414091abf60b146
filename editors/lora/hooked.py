"""A LoRA adapter without peft: its tensors live outside the model and act through forward hooks.

The LoRA editor injects peft modules into the model (the model changes, `reset()` unloads them). A method that
keeps an adapter beside an untouched model (SERAC's counterfactual model: the base model plus a trained adapter,
used only for the queries routed to an edit) needs the opposite: the adapter switched on for chosen rows of one
forward pass and the model exactly itself otherwise. `HookedLoRA.active(model, rows)` adds
`alpha / rank * x A^T B^T` to the output of each target module for those rows and removes its hooks on exit;
the other rows keep the module's output bit for bit. Initialisation as peft's: A Kaiming-uniform (a = sqrt(5)),
B zero, so a fresh adapter changes nothing.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch

from bench.arch import arch_of
from bench.errors import BenchError


def _key(path: str) -> str:
    return path.replace(".", "__")  # a parameter name may not hold dots (nor '/': optimizer state names use it)


class HookedLoRA(torch.nn.Module):
    """Rank-`rank` updates of the modules at `targets` (full module paths, editors/lora/targets.py)."""

    def __init__(self, model: torch.nn.Module, targets: list[str], rank: int, alpha: float, seed: int = 0):
        super().__init__()
        if not targets:
            raise BenchError("lora: no target modules for the adapter")
        self.targets, self.rank, self.alpha = list(targets), rank, alpha
        self.scale = alpha / rank
        conv1d = arch_of(model).conv1d
        modules = dict(model.named_modules())
        self.A, self.B = torch.nn.ParameterDict(), torch.nn.ParameterDict()
        with torch.random.fork_rng(devices=[]):  # reproducible A, global RNG untouched
            torch.manual_seed(seed)
            for path in self.targets:
                weight = modules[path].weight
                n_in, n_out = (weight.shape[0], weight.shape[1]) if conv1d else (weight.shape[1], weight.shape[0])
                a = torch.empty(rank, n_in)
                torch.nn.init.kaiming_uniform_(a, a=math.sqrt(5))
                self.A[_key(path)] = torch.nn.Parameter(a)
                self.B[_key(path)] = torch.nn.Parameter(torch.zeros(n_out, rank))

    def delta(self, path: str, x: torch.Tensor) -> torch.Tensor:
        a, b = self.A[_key(path)], self.B[_key(path)]
        return (x.to(a.dtype) @ a.T @ b.T * self.scale).to(x.dtype)

    @contextlib.contextmanager
    def active(self, model: torch.nn.Module, rows: torch.Tensor | None = None) -> Iterator[None]:
        """The adapter on for the batch rows where `rows` (bool, one per row) is True, all rows when None."""
        if rows is not None and not bool(rows.any()):
            yield
            return
        modules = dict(model.named_modules())
        handles = [modules[path].register_forward_hook(self._hook(path, rows)) for path in self.targets]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def _hook(self, path: str, rows: torch.Tensor | None):
        def add(_module, inputs, output):
            changed = output + self.delta(path, inputs[0])
            if rows is None:
                return changed
            return torch.where(rows.to(output.device).view(-1, *([1] * (output.dim() - 1))), changed, output)
        return add

    def tensors(self) -> dict[str, torch.Tensor]:
        """The adapter as flat float32 tensors ('A/<module path>', 'B/<module path>') for safetensors."""
        return {f"{side}/{path}": getattr(self, side)[_key(path)].detach().float().cpu().contiguous()
                for side in ("A", "B") for path in self.targets}

    def load_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        expected = {f"{side}/{path}" for side in ("A", "B") for path in self.targets}
        if set(tensors) != expected:
            missing, extra = sorted(expected - set(tensors)), sorted(set(tensors) - expected)
            raise BenchError(f"lora adapter: the tensors do not fit these targets (missing {missing[:3]}, "
                             f"unexpected {extra[:3]})")
        with torch.no_grad():
            for name, value in tensors.items():
                side, path = name.split("/", 1)
                getattr(self, side)[_key(path)].copy_(value)
