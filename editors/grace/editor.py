"""GRACE: a key-value codebook at one module, read by a forward hook; no weight changes.

Key = the hooked module's input at the last prompt token of a row; when the
nearest codebook key lies within its radius, the module's output is replaced by
that entry's value from the last prompt token on (teacher-forced target tokens
included; in generation every new token too). Batches are left-padded, so the
key position of a row is its pad count plus its prompt length (the scorer's
`Batch.prompt_lengths`). With an empty codebook or no scorer batch in flight
the hook returns the output untouched, so base logits are exact; `reset()`
drops the hook and the codebook. Edits are applied one after another (also
within a batch): GRACE is made for sequential editing.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from bench.arch import get_module, module_path
from bench.data.schema import Edit, EditCase
from bench.editor import BatchInFlight, Capabilities, Editor, check_choice
from bench.errors import BenchError
from bench.optim import minimize
from bench.scoring import Batch, Prepared
from editors.ft.objectives import target_new_nll
from editors.grace.codebook import Codebook
from editors.grace.config import VALUE_INITS, GRACEConfig, edit_layer


class GRACE(BatchInFlight, Editor):
    name = "grace"
    capabilities = Capabilities(changes_weights=False, batch=True, sequential=True)
    config_class: ClassVar[type] = GRACEConfig

    def __init__(self, lm, config=None, resources=None):
        super().__init__(lm, config, resources)
        check_choice("grace", "val_init", self.config.val_init, VALUE_INITS)
        self.layer = edit_layer(self.model, self.config)
        self.module = get_module(self.model, self.layer, self.config.part)
        self.codebook = Codebook(self.config.eps)
        self._handle = None
        self._live: tuple | None = None  # (id of the batch's metas, entry index, active) for generation steps
        self.last_losses: list[float] = []

    # -- the contract -----------------------------------------------------------------
    def edit(self, cases: list[EditCase]) -> None:
        edits = [e for case in cases for e in case.edits]
        if not edits:
            raise BenchError("grace: the cases to edit contain no edits")
        if self._handle is None:
            self._handle = self.module.register_forward_hook(self._hook)
        for e in edits:
            self._edit_one(e)

    def reset(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        self.codebook = Codebook(self.config.eps)
        self._batch = self._live = None

    def sequential_state(self) -> dict[str, torch.Tensor]:
        return self.codebook.to_tensors()

    def load_sequential_state(self, tensors: dict[str, torch.Tensor]) -> None:
        self.codebook = Codebook.from_tensors(self.config.eps, tensors, self.lm.device)
        if len(self.codebook) and self._handle is None:
            self._handle = self.module.register_forward_hook(self._hook)

    def describe(self) -> dict:
        return {**super().describe(), "module": module_path(self.model, self.layer, self.config.part)}

    # -- editing ----------------------------------------------------------------------
    def _edit_one(self, edit: Edit) -> None:
        cfg = self.config
        row = self.scorer.encode(Prepared(edit.prompt, edit.target_new))
        batch = self.scorer.collate([row])
        key, out = self._capture(batch, row.target_start - 1)
        if cfg.val_init == "warm":
            init = out
        else:
            gen = torch.Generator().manual_seed(self.resources.seed + len(self.codebook))
            init = torch.rand(out.shape, generator=gen).to(out.device)
        idx = self.codebook.insert(key, init.float(), edit.target_new)
        value = self.codebook.values[idx]
        value.requires_grad_(True)
        opt = torch.optim.Adam([value], lr=cfg.edit_lr)
        try:
            with self.forward_context(batch):
                self.last_losses = minimize(lambda: target_new_nll(self.scorer, [row]), opt, cfg.n_iter,
                                            cfg.early_stop_loss)
        finally:
            value.requires_grad_(False)
            value.grad = None

    @torch.no_grad()
    def _capture(self, batch: Batch, pos: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The hooked module's input (the key) and output at one position of a one-row batch."""
        seen = {}

        def grab(_module, args, output):
            seen["key"], seen["out"] = args[0][0, pos].detach(), output[0, pos].detach()

        handle = self.module.register_forward_hook(grab)
        try:
            self.scorer.logits(batch, None, 1)
        finally:
            handle.remove()
        return seen["key"], seen["out"]

    # -- the hook ---------------------------------------------------------------------
    def _hook(self, _module, args, output):
        batch = self._batch
        if batch is None or not len(self.codebook):
            return None
        x = args[0]
        n_rows, width = x.shape[:2]
        if batch.attention_mask.shape[1] == batch.input_ids.shape[1]:  # a full pass (scoring or prefill)
            lengths = batch.prompt_lengths or [0] * n_rows
            pos = [pad + _key_index(n, width - pad) for pad, n in zip(batch.pad, lengths)]
            pos = torch.tensor(pos, device=x.device)
            _, idx, active = self.codebook.nearest(x[torch.arange(n_rows, device=x.device), pos])
            self._live = (id(batch.metas), idx, active)
            cols = torch.arange(width, device=x.device)
            mask = (cols[None, :] >= pos[:, None]) & active[:, None]
        else:  # a cached generation step: reuse the prefill's decision
            if self._live is None or self._live[0] != id(batch.metas):
                return None
            _, idx, active = self._live
            mask = active[:, None].expand(n_rows, width)
        if not bool(mask.any()):
            return None
        values = self.codebook.stacked_values(idx).to(device=output.device, dtype=output.dtype)
        return torch.where(mask[..., None], values[:, None, :], output)


def _key_index(n_prompt: int, length: int) -> int:
    """Index (within the unpadded row) of the last prompt token; the last token when no length is known."""
    return min(n_prompt if n_prompt > 0 else length, length) - 1
