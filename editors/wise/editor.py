"""WISE (Wang et al., NeurIPS 2024): edits written into a side memory, a copy of one MLP projection, and a
router that answers a query from the side memory only when the query activates it.

The model's weights are never changed: a forward hook on the projection adds x (W_side - W_main) to the rows
the router sends to a side memory, and returns the output untouched otherwise, so unrouted queries get the
unedited logits bitwise. Routing is decided once per row on a full pass, from the mean activation distance
over the row's prompt tokens (left padding and the answer excluded, via the scorer's `Batch`), and applies to
all of the row's positions; cached generation steps reuse the prefill's decision. An edit() call trains the
current shard on the edits (each under every context template) with the answer's cross-entropy plus the
margin loss against one irrelevant prompt per edit, then records the edits' distances, whose minimum sets
the threshold. Nothing below the side memory changes while an edit() call trains it, so the inputs of the
edit layer's MLP, the residual stream and the side memory's inputs on the irrelevant prompts are computed
once per call, and each step reruns only that MLP and the layers above it (editors/locate/upper.py; same
losses and memories as a full forward per step, tests/test_wise.py). `reset()` drops the hook and the
memories. Hyper-parameters: editors/wise/config.py.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import ClassVar

import torch
from transformers.activations import ACT2FN

from bench.arch import arch_of, get_module, module_path, text_config
from bench.data.schema import Edit, EditCase
from bench.editor import BatchInFlight, Capabilities, Editor
from bench.errors import BenchError
from bench.optim import minimize
from bench.scoring import Batch, Encoded, Prepared
from editors.ft.objectives import target_new_nll
from editors.locate.hooks import forward, hooked
from editors.locate.upper import FromMLP, from_mlp, sequential
from editors.wise.config import WISEConfig, edit_layer
from editors.wise.memory import SideMemories
from editors.wise.prompts import context_prefixes, irrelevant_texts
from editors.wise.routing import (
    MAIN,
    Routing,
    margin_loss,
    route,
    row_distance,
    side_difference,
    span_mask,
    token_distance,
)


class WISE(BatchInFlight, Editor):
    name = "wise"
    capabilities = Capabilities(changes_weights=False, batch=True, sequential=True)
    config_class: ClassVar[type] = WISEConfig
    reuse_lower = True  # False: every optimisation step runs the whole model (the reference the tests compare)

    def __init__(self, lm, config=None, resources=None):
        super().__init__(lm, config, resources)
        self.config.check_model(self.name, lm, type(self))
        self.layer = edit_layer(self.model, self.config)
        self.site = (self.layer, self.config.part)
        self.module = get_module(self.model, *self.site)
        self.conv1d = arch_of(self.model).conv1d
        self.activation = self._activation() if self.config.distance == "code" else None
        self.main = self.module.weight.detach().float().clone()
        self.memories = self._fresh()
        self._handle = None
        self._live: tuple | None = None  # (id of the batch's metas, choice per row, candidates) for generation
        self._writing: list[torch.Tensor] | None = None  # token distances seen while training a shard
        self._prefixes: list[str] | None = None
        self._irrelevant: list[str] | None = None
        self.last_losses: list[float] = []
        self.last_routing: Routing | None = None  # the last full pass's routing (diagnosis only)

    # -- the contract -----------------------------------------------------------------
    def edit(self, cases: list[EditCase]) -> None:
        edits = [e for case in cases for e in case.edits]
        if not edits:
            raise BenchError("wise: the cases to edit contain no edits")
        self._install()
        self._write(edits)

    def reset(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        self.memories = self._fresh()
        self._batch = self._live = self.last_routing = None

    def describe(self) -> dict:
        return {**super().describe(), "module": module_path(self.model, *self.site),
                "hparams_source": "zjunlp/EasyEdit hparams/WISE/llama-7b.yaml (layer scaled to depth)"}

    def sequential_state(self) -> dict[str, torch.Tensor]:
        return self.memories.tensors()

    def load_sequential_state(self, tensors: dict[str, torch.Tensor]) -> None:
        self.memories.load(tensors)
        self._install()

    # -- writing edits ------------------------------------------------------------------
    def _write(self, edits: list[Edit]) -> None:
        cfg, mem = self.config, self.memories
        if mem.mask is None:
            mem.mask = self._shard_mask(mem.calls // cfg.save_freq)
        rows = [self.scorer.encode(Prepared(pre + e.prompt, e.target_new)) for e in edits for pre in self.prefixes]
        irrelevant = [self.scorer.encode(Prepared(self._irrelevant_for(e))) for e in edits]
        lower = self._lower(rows, irrelevant)
        weight, mask = mem.current.weight.requires_grad_(True), mem.mask
        handle = weight.register_hook(lambda grad: grad * mask)
        opt = torch.optim.SGD([weight], lr=cfg.edit_lr, weight_decay=cfg.weight_decay)
        try:
            self.last_losses = minimize(lambda: self._loss(rows, irrelevant, len(edits), lower), opt, cfg.n_iter,
                                        cfg.early_stop_loss, self._clamp, plateau=cfg.early_stop_change)
        finally:
            handle.remove()
            weight.requires_grad_(False)
            weight.grad = None
        with torch.no_grad():
            for distances in self._prompt_distances(rows, lower).view(len(edits), -1):
                mem.record(float(distances.mean()))
        mem.finish_call(cfg.save_freq, cfg.merge_freq, cfg.density, cfg.merge_weight)

    def _lower(self, rows: list[Encoded], irrelevant: list[Encoded]) -> tuple[FromMLP, torch.Tensor] | None:
        """What the steps reuse: reruns from the edit layer's MLP on the edit rows, and the side memory's
        inputs on the irrelevant rows; None where every step runs the whole model."""
        if not (self.reuse_lower and sequential(self.model)):
            return None
        edit_rows = from_mlp(self.model, self.scorer.collate(rows), self.layer)
        with torch.no_grad(), hooked(self.model, [self.site], read_inputs=True, stop_after=self.site) as rec:
            forward(self.model, self.scorer.collate(irrelevant))
        return edit_rows, rec.inputs[self.site]

    def _loss(self, rows: list[Encoded], irrelevant: list[Encoded], n_edits: int,
              lower: tuple[FromMLP, torch.Tensor] | None) -> torch.Tensor:
        """The answers' cross-entropy through the current shard plus the margin loss (Eq. 5)."""
        self._writing = []
        try:
            nll = target_new_nll(self.scorer, rows, None if lower is None else lower[0].logits)
            inside = row_distance(self._writing.pop(), _prompt_span(rows, self.main.device))
        finally:
            self._writing = None
        batch = self.scorer.collate(irrelevant)
        run = (lambda: self.module(lower[1])) if lower else self._forward_to_site(batch)
        outside = row_distance(self._distances_of(run), batch.attention_mask.bool())
        cfg = self.config
        return nll + margin_loss(inside.view(n_edits, -1), outside, cfg.alpha, cfg.beta, cfg.gamma)

    def _prompt_distances(self, rows: list[Encoded], lower: tuple[FromMLP, torch.Tensor] | None) -> torch.Tensor:
        run = (lambda: lower[0].mlp(lower[0].mlp_input)) if lower else self._forward_to_site(self.scorer.collate(rows))
        return row_distance(self._distances_of(run), _prompt_span(rows, self.main.device))

    def _forward_to_site(self, batch: Batch) -> Callable[[], None]:
        """A forward pass on `batch` that stops after the side memory's projection."""
        def run() -> None:
            with hooked(self.model, [self.site], stop_after=self.site):
                forward(self.model, batch)
        return run

    def _distances_of(self, run: Callable[[], object]) -> torch.Tensor:
        """Token distances of the current shard on the rows `run` sends through the projection."""
        self._writing = []
        try:
            run()
            return self._writing.pop()
        finally:
            self._writing = None

    @torch.no_grad()
    def _clamp(self) -> None:
        """Keep every entry within norm_constraint of the main memory (the authors' _norm_constraint)."""
        weight, bound = self.memories.current.weight, self.config.norm_constraint
        weight.copy_(torch.maximum(torch.minimum(weight, self.main + bound), self.main - bound))

    def _shard_mask(self, shard: int) -> torch.Tensor:
        """Bernoulli(mask_ratio) over the weight's entries, seeded by the run's seed and the shard's index."""
        gen = torch.Generator().manual_seed(self.resources.seed * 100_003 + shard)
        mask = torch.rand(self.main.shape, generator=gen) < self.config.mask_ratio
        return mask.to(device=self.main.device, dtype=self.main.dtype)

    def _irrelevant_for(self, edit: Edit) -> str:
        """The edit's irrelevant prompt: picked by a stable hash of the edit, so it does not depend on the order
        of edits or on resets (the authors pair the i-th edit with the i-th training record)."""
        texts = self.irrelevant
        return texts[zlib.crc32(f"{edit.prompt}\0{edit.target_new}".encode()) % len(texts)]

    @property
    def prefixes(self) -> list[str]:
        if self._prefixes is None:
            self._prefixes = context_prefixes(self.scorer)
        return self._prefixes

    @property
    def irrelevant(self) -> list[str]:
        if self._irrelevant is None:
            self._irrelevant = irrelevant_texts(self.config.irrelevant, self.resources.data_dir)
        return self._irrelevant

    # -- the hook -----------------------------------------------------------------------
    def _install(self) -> None:
        if self._handle is None:
            self._handle = self.module.register_forward_hook(self._hook)

    def _hook(self, _module, args, output):
        x = args[0]
        if self._writing is not None:  # training or measuring the current shard: every row goes through it
            difference = side_difference(x, self.memories.current.weight, self.main, self.conv1d)
            self._writing.append(token_distance(output, difference, self.activation))
            return output + difference.to(output.dtype)
        batch = self._batch
        if batch is None:
            return None
        if batch.attention_mask.shape[1] == batch.input_ids.shape[1]:  # a full pass (scoring or prefill)
            choice, candidates, differences = self._route(x, output, batch)
        else:  # a cached generation step: reuse the prefill's decision
            if self._live is None or self._live[0] != id(batch.metas):
                return None
            _, choice, candidates = self._live
            differences = {}
        out = output
        for i in sorted(set(choice.tolist()) - {MAIN}):
            diff = differences.get(i)
            if diff is None:
                diff = side_difference(x, candidates[i].weight, self.main, self.conv1d)
            out = torch.where((choice == i)[:, None, None], output + diff.to(output.dtype), out)
        return None if out is output else out

    def _route(self, x: torch.Tensor, output: torch.Tensor, batch: Batch):
        candidates = self.memories.candidates()
        n_rows, width = x.shape[:2]
        if not candidates:
            choice = torch.full((n_rows,), MAIN, device=x.device)
            self._live = (id(batch.metas), choice, candidates)
            self.last_routing = Routing(x.new_zeros((n_rows, 0)), x.new_zeros(0), choice)
            return choice, candidates, {}
        lengths = batch.prompt_lengths or [width - pad for pad in batch.pad]
        span = span_mask(batch.pad, lengths, width, x.device)
        differences = {i: side_difference(x, m.weight, self.main, self.conv1d) for i, m in enumerate(candidates)}
        distances = torch.stack([row_distance(token_distance(output, d, self.activation), span)
                                 for d in differences.values()], dim=1)
        ratio = self.config.act_ratio
        thresholds = torch.tensor([self.memories.threshold(m, ratio) for m in candidates], device=x.device)
        choice = route(distances, thresholds)
        self._live = (id(batch.metas), choice, candidates)
        self.last_routing = Routing(distances.detach(), thresholds, choice)
        return choice, candidates, differences

    # -- helpers ------------------------------------------------------------------------
    def _fresh(self) -> SideMemories:
        return SideMemories(self.main, retrieve=self.config.mode == "retrieve")

    def _activation(self):
        config = text_config(self.model)
        name = getattr(config, "hidden_act", None) or getattr(config, "activation_function", None)
        if name not in ACT2FN:
            raise BenchError(f"wise: distance=code needs the model's activation function; {name!r} is unknown")
        return ACT2FN[name]


def _prompt_span(rows: list[Encoded], device) -> torch.Tensor:
    """Each collated row's prompt tokens (before its answer)."""
    width = max(len(e.ids) for e in rows)
    return span_mask([width - len(e.ids) for e in rows], [e.target_start for e in rows], width, device)
