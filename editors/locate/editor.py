"""The locate-and-edit editor shell: ROME, MEMIT and PMET only implement `compute_deltas`.

`edit(cases)` computes deltas for all requests without touching the model
(earlier deltas of the same call act through `hooks.overlay`), then applies
them; the originals are kept by the one `WeightRestorer`, so `reset()` is
bitwise. The key statistics are loaded or built when the editor is created:
they must describe the unedited model, and describe() (config.json) then
states the corpus and the number of token vectors actually used. Context
prefixes are sampled once, at the first edit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

import torch

from bench.arch import arch_of, module_path
from bench.data.schema import EditCase
from bench.editor import Capabilities, Editor
from bench.restore import RestoredWeights, WeightRestorer
from editors.locate.config import LocateConfig, resolve_config
from editors.locate.hooks import Site
from editors.locate.requests import EditRequest, requests_from_cases
from editors.locate.sampling import context_prefixes
from editors.locate.stats import SecondMoments, StatsSpec, describe_stats
from editors.locate.values import ValueResult, ValueSettings


@dataclass
class Timings:
    """Seconds spent, summed over edit() calls, for the performance benchmark."""

    edits: int = 0
    total: float = 0.0
    values: float = 0.0
    stats: float = 0.0
    contexts: float = 0.0
    steps: list[int] = field(default_factory=list)


class LocateEditor(RestoredWeights, Editor):
    capabilities = Capabilities(changes_weights=True, batch=True, sequential=True)
    config_class: ClassVar[type] = LocateConfig
    method_dir: ClassVar[Path]

    def __init__(self, lm, config=None, resources=None):
        super().__init__(lm, config, resources)
        if self.config.seed is None:  # the run's --seed, unless given as an editor argument (as config.resolved)
            self.config = replace(self.config, seed=self.resources.seed)
        self.config, self.hparams_source = resolve_config(self.config, self.method_dir, lm)
        self.restorer = WeightRestorer(lm.model)
        self.timings = Timings()
        self._contexts: list[str] | None = None
        self._moments: SecondMoments | None = None
        self.last_values: ValueResult | None = None  # the last optimised targets (diagnostics, tests)
        self.moments(self.edited_sites())

    # -- the contract -------------------------------------------------------------------
    def edit(self, cases: list[EditCase]) -> None:
        t0 = time.perf_counter()
        requests = requests_from_cases(cases)
        deltas = self.compute_deltas(requests)
        self.apply(deltas)
        self.timings.edits += len(requests)
        self.timings.total += time.perf_counter() - t0

    def load_sequential_state(self, tensors: dict[str, torch.Tensor]) -> None:
        _ = self.contexts  # sampled from the unedited model, as in a run that never stopped
        super().load_sequential_state(tensors)

    def compute_deltas(self, requests: list[EditRequest]) -> dict[Site, torch.Tensor]:
        """{site: delta (out_features, in_features)}; must not change the model."""
        raise NotImplementedError

    @torch.no_grad()
    def apply(self, deltas: dict[Site, torch.Tensor]) -> None:
        params = dict(self.model.named_parameters())
        names = {site: f"{module_path(self.model, *site)}.weight" for site in deltas}
        self.restorer.save(names.values())
        conv1d = arch_of(self.model).conv1d
        for site, delta in deltas.items():
            weight = params[names[site]]
            weight += (delta.T if conv1d else delta).to(device=weight.device, dtype=weight.dtype)

    # -- shared ingredients -------------------------------------------------------------
    @property
    def contexts(self) -> list[str]:
        if self._contexts is None:
            t0 = time.perf_counter()
            cfg = self.config
            self._contexts = context_prefixes(self.scorer, cfg.context_lengths, cfg.contexts_per_length, cfg.seed)
            self.timings.contexts += time.perf_counter() - t0
        return self._contexts

    @property
    def stats_spec(self) -> StatsSpec:
        cfg = self.config
        return StatsSpec(cfg.stats_corpus, cfg.stats_samples, cfg.stats_dtype, cfg.seed)

    def moments(self, sites: list[Site]) -> dict[Site, torch.Tensor | None]:
        """C per site, or None everywhere when mom2_adjustment is off (C = I)."""
        if not self.config.mom2_adjustment:
            return {s: None for s in sites}
        t0 = time.perf_counter()
        if self._moments is None:
            self._moments = SecondMoments(self.lm, self.stats_spec, self.resources.data_dir)
        out = self._moments.get(sites)
        self.timings.stats += time.perf_counter() - t0
        return out

    def record(self, values: ValueResult) -> ValueResult:
        """Book a value optimisation into the timings and keep it as `last_values`."""
        self.timings.values += values.seconds
        self.timings.steps += values.steps
        self.last_values = values
        return values

    def value_settings(self) -> ValueSettings:
        cfg = self.config
        return ValueSettings(cfg.v_num_grad_steps, cfg.v_lr, cfg.v_weight_decay, cfg.kl_factor, cfg.clamp_norm_factor)

    def describe(self) -> dict:
        out = super().describe()
        out["hparams_source"] = self.hparams_source
        out["sites"] = {f"layer{site[0]}.{site[1]}": module_path(self.model, *site) for site in self.edited_sites()}
        if self.config.mom2_adjustment:
            out["statistics"] = describe_stats(self.stats_spec, self._moments)
        else:
            out["statistics"] = "none: C = I (mom2_adjustment=false)"
        out["n_contexts"] = 1 + len(self.config.context_lengths) * self.config.contexts_per_length
        return out

    def edited_sites(self) -> list[Site]:
        return [(layer, "mlp_out") for layer in self.config.layers]
