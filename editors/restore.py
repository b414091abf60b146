"""The one restore mechanism: keep originals of touched parameters, put them back bitwise."""

from __future__ import annotations

import hashlib

import torch


class WeightRestorer:
    """Snapshot parameters before an editor changes them; `restore()` copies them back."""

    def __init__(self, model: torch.nn.Module):
        self.model = model
        self._saved: dict[str, torch.Tensor] = {}

    def save(self, names) -> None:
        params = dict(self.model.named_parameters())
        for name in names:
            if name not in self._saved:  # keep the first (pre-edit) value across sequential edits
                self._saved[name] = params[name].detach().clone()

    @torch.no_grad()
    def restore(self) -> None:
        params = dict(self.model.named_parameters())
        for name, original in self._saved.items():
            params[name].copy_(original)
        self._saved.clear()

    @property
    def saved_names(self) -> list[str]:
        return list(self._saved)


def parameter_hash(model: torch.nn.Module) -> str:
    """A digest of every parameter's bytes; equal iff bitwise equal (up to hash collisions)."""
    digest = hashlib.blake2b(digest_size=16)
    for name, p in model.named_parameters():
        digest.update(name.encode())
        digest.update(p.detach().contiguous().view(torch.uint8).cpu().numpy().tobytes())
    return digest.hexdigest()
