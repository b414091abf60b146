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

    def edited(self) -> dict[str, torch.Tensor]:
        """The current values of every parameter changed so far (a sequential run's saved state)."""
        params = dict(self.model.named_parameters())
        return {name: params[name].detach().clone() for name in self._saved}

    @torch.no_grad()
    def load_edited(self, values: dict[str, torch.Tensor]) -> None:
        """Set parameters to `values` (from `edited()`), keeping the originals so `restore()` still works."""
        self.save(values)
        params = dict(self.model.named_parameters())
        for name, value in values.items():
            params[name].copy_(value)


@torch.no_grad()
def parameter_hash(model: torch.nn.Module, host_bytes: bool | None = None) -> str:
    """A digest of every parameter's bits, computed where the parameters live.

    On the host: the raw bytes. On an accelerator, per tensor: the sum of its raw words and their
    position-weighted sum (int64), so that no 0.5 GB copy to the host follows every case; any single changed
    bit changes the digest.
    """
    digest = hashlib.blake2b(digest_size=16)
    for name, p in model.named_parameters():
        if p.device.type == "cpu" if host_bytes is None else host_bytes:  # cheapest on the host
            digest.update(name.encode())
            digest.update(p.detach().contiguous().view(torch.uint8).numpy().data)
            continue
        words = _as_words(p.detach())
        weights = torch.arange(words.numel(), device=words.device, dtype=torch.int64) % 65521 + 1
        digest.update(name.encode())
        digest.update(f"{tuple(p.shape)}:{words.sum().item()}:{(words * weights).sum().item()}".encode())
    return digest.hexdigest()


def _as_words(t: torch.Tensor) -> torch.Tensor:
    """The tensor's bytes as int64 values of 32-bit (or 16-bit) words."""
    flat = t.contiguous().reshape(-1)
    if flat.element_size() == 4:
        return flat.view(torch.int32).to(torch.int64)
    if flat.element_size() == 2:
        return flat.view(torch.int16).to(torch.int64)
    return flat.view(torch.uint8).to(torch.int64)
