"""InstructEd's attention, registered as the transformers attention implementation "instructed".

Transformers 5.x looks the attention function and its mask function up by the name in
`config._attn_implementation`; `activate()` switches the model to "instructed" only inside a forward
context, so outside it the model is untouched (bitwise). The function itself stays on the SDPA kernel:

- Eq. 15 (the paper's text; `--scaling columns` trains it) multiplies pre-softmax scores of instruction (and
  prefix) key columns by sim. A score is q.k, so scaling the key vectors of those columns by sim is the same
  thing, per row of the batch.
- row scaling (the authors' code and the default checkpoint's since 2026-12-07) scales query rows instead: the first
  `paper_rows` (+ n_prefix in prefixed layers) query positions of each row, every column.
- Prefix keys/values are concatenated in front of the tokens' (after rotary, so they carry no position)
  and the boolean mask gets matching columns, open only for rows that carry an instruction.
Rows without an instruction are left exactly as the base model computes them. Generation works: each
step's keys include the cache (for sliding-window layers only its most recent positions, so columns are
mapped to absolute positions from the end), and columns beyond the prompt are never instruction columns.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from dataclasses import dataclass

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

from bench.arch import ArchSpec, arch_of, get_module, head_counts
from bench.scoring import Batch
from editors.instructed.instructions import RowMeta
from editors.instructed.prefix import PrefixBank

NAME = "instructed"
_STATE: ContextVar[ForwardState | None] = ContextVar("instructed_forward_state", default=None)


def instructed_mask(**kwargs):
    """SDPA's boolean mask, always materialised (the attention function appends prefix columns to it)."""
    kwargs["allow_is_causal_skip"] = False
    return sdpa_mask(**kwargs)


def instructed_attention(module, query, key, value, attention_mask, **kwargs):
    state = _STATE.get()
    if state is None:  # a model left on "instructed" outside a context computes plain attention
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    return state.attend(module, query, key, value, attention_mask, **kwargs)


AttentionInterface.register(NAME, instructed_attention)
AttentionMaskInterface.register(NAME, instructed_mask)


@dataclass
class ForwardState:
    """Per-forward, per-row state (absolute key-column indices, i.e. including each row's left padding)."""

    bank: PrefixBank | None
    arch: ArchSpec
    heads: tuple[int, int, int]
    use: torch.Tensor  # (B,) bool: the row carries an instruction
    sim: torch.Tensor  # (B,) float
    ins_start: torch.Tensor  # (B,) first instruction column
    ins_end: torch.Tensor  # (B,) one past the last instruction column
    row_start: torch.Tensor  # (B,) first query row that row scaling scales (left-pad count + a kept-out sink)
    paper_end: torch.Tensor  # (B,) one past the last query row scaled by row scaling (without prefixes)
    total: int  # positions so far (prompt + generated): the keys a layer sees are the last kv_len of them
    reweight: bool
    rows: bool  # Eq. 15 on query rows (the authors' code), else on key columns

    @classmethod
    def from_batch(cls, batch: Batch, model, bank: PrefixBank | None, reweight: bool, rows: bool) -> ForwardState:
        metas: list[RowMeta | None] = batch.metas
        dev = batch.input_ids.device

        def col(values) -> torch.Tensor:
            return torch.tensor(values, dtype=torch.long, device=dev)

        pads = batch.pad
        return cls(
            bank=bank, arch=arch_of(model), heads=head_counts(model),
            use=torch.tensor([m is not None for m in metas], device=dev),
            sim=torch.tensor([m.sim if m else 1.0 for m in metas], dtype=torch.float32, device=dev),
            ins_start=col([p + (m.ins_start if m else 0) for p, m in zip(pads, metas)]),
            ins_end=col([p + (m.ins_end if m else 0) for p, m in zip(pads, metas)]),
            row_start=col([p + (m.paper_start if m else 0) for p, m in zip(pads, metas)]),
            paper_end=col([p + (m.paper_rows if m else 0) for p, m in zip(pads, metas)]),
            total=batch.attention_mask.shape[1], reweight=reweight, rows=rows,
        )

    def prefixed(self, layer: int) -> bool:
        return self.bank is not None and self.bank.variant == "attn" and layer in self.bank.layers

    def attend(self, module, query, key, value, mask, **kwargs):
        batch, _, q_len, _ = query.shape
        kv_len = key.shape[2]
        prefixed = self.prefixed(module.layer_idx)
        if mask is None:
            mask = _causal(batch, q_len, kv_len, query.device)
        if self.reweight:
            sim = self.sim.to(query.dtype)[:, None]
            if self.rows:
                query = query * self._row_scale(sim, q_len, prefixed)[:, None, :, None]
            else:
                key = key * self._col_scale(sim, kv_len)[:, None, :, None]
        if prefixed:
            pk, pv = self.bank.prefix_kv(module, self.arch, module.layer_idx, self.heads)
            pk, pv = pk.expand(batch, -1, -1, -1), pv.expand(batch, -1, -1, -1)
            if self.reweight and not self.rows:
                pk = pk * self.sim.to(pk.dtype)[:, None, None, None]
            key, value = torch.cat([pk, key], dim=2), torch.cat([pv, value], dim=2)
            open_rows = self.use[:, None, None, None].expand(batch, 1, mask.shape[2], pk.shape[2])
            mask = torch.cat([open_rows, mask.expand(batch, -1, -1, -1)], dim=-1)
        return sdpa_attention_forward(module, query, key, value, mask, **kwargs)

    def _col_scale(self, sim: torch.Tensor, kv_len: int) -> torch.Tensor:
        # a sliding-window cache hands over only the most recent kv_len positions
        cols = torch.arange(self.total - kv_len, self.total, device=sim.device)[None]
        inside = (cols >= self.ins_start[:, None]) & (cols < self.ins_end[:, None]) & self.use[:, None]
        return torch.where(inside, sim, torch.ones_like(sim))

    def _row_scale(self, sim: torch.Tensor, q_len: int, prefixed: bool) -> torch.Tensor:
        rows = torch.arange(self.total - q_len, self.total, device=sim.device)[None]
        end = self.paper_end + (self.bank.n_prefix if prefixed else 0)
        inside = (rows >= self.row_start[:, None]) & (rows < end[:, None]) & self.use[:, None]
        return torch.where(inside, sim, torch.ones_like(sim))


def _causal(batch: int, q_len: int, kv_len: int, device) -> torch.Tensor:
    rows = torch.arange(kv_len - q_len, kv_len, device=device)[:, None]
    return (torch.arange(kv_len, device=device)[None] <= rows)[None, None].expand(batch, 1, q_len, kv_len)


@contextlib.contextmanager
def activate(model, state: ForwardState):
    """Route `model`'s attention through InstructEd for the duration (and its MLP adapters, variant ffn)."""
    token = _STATE.set(state)
    previous = model.config._attn_implementation
    model.config._attn_implementation = NAME
    handles = _adapter_hooks(model, state) if state.bank is not None and state.bank.variant == "ffn" else []
    try:
        yield state
    finally:
        for handle in handles:
            handle.remove()
        model.config._attn_implementation = previous
        _STATE.reset(token)


def _adapter_hooks(model, state: ForwardState) -> list:
    bank = state.bank

    def hook_for(layer: int):
        def hook(_module, args, output):
            gate = state.use.to(output.dtype)[:, None, None]
            return output + bank.adapter(layer, args[0]) * gate
        return hook

    return [get_module(model, layer, "mlp").register_forward_hook(hook_for(layer)) for layer in bank.layers]


def forward_context(model, bank: PrefixBank | None, reweight: bool, rows: bool):
    """A `Scorer` context factory: InstructEd for batches with at least one instructed row, else the base model."""

    def factory(batch: Batch):
        if not any(m is not None for m in batch.metas):
            return contextlib.nullcontext()
        return activate(model, ForwardState.from_batch(batch, model, bank, reweight, rows))

    return factory
