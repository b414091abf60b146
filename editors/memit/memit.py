"""MEMIT (Meng et al. 2023): many edits at once, spread over a range of MLP output projections.

z = the residual stream after the last edited layer, optimised at the
subject's last token (editors/locate/values.py). Layer by layer, bottom up,
each layer takes 1/(remaining layers) of the residual z - h (h read on the
model with the lower layers' deltas already in effect) through the
least-squares update delta = R^T K (lambda C + K^T K)^-1. A model whose MLP output is normalised
before the residual add (Gemma) gets the residual moved through that norm (editors/locate/stream.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from bench.arguments import arg
from editors.locate import LocateConfig, LocateEditor
from editors.locate.hooks import BLOCK, overlay
from editors.locate.keys import read_at_lookup
from editors.locate.stream import site_residual
from editors.locate.update import spread_delta
from editors.locate.values import optimise_values


@dataclass
class MEMITConfig(LocateConfig):
    mom2_update_weight: float | None = arg(None, above=0,
                                           help="lambda: weight of the preserved keys' second moments; None: hparams")


class MEMIT(LocateEditor):
    name = "memit"
    config_class = MEMITConfig
    method_dir = Path(__file__).parent

    def compute_deltas(self, requests):
        layers = self.config.layers
        z_site = (layers[-1], BLOCK)
        covs = self.moments(self.edited_sites())
        values = self.record(optimise_values(self.scorer, requests, self.contexts, [z_site], self.value_settings(),
                                 self.config.value_chunk))
        deltas = {}
        for i, layer in enumerate(layers):
            site = (layer, "mlp_out")
            with overlay(self.model, deltas):
                keys, outputs = read_at_lookup(self.scorer, requests, self.contexts, [site, z_site])
            residuals = (values.targets[z_site] - outputs[z_site][:, 0]) / (len(layers) - i)
            residuals = site_residual(self.model, site, outputs[site][:, 0], residuals)
            deltas[site] = self.layer_delta(site, keys[site].mean(1), residuals, covs[site]).float()
        return deltas

    def layer_delta(self, site, keys: torch.Tensor, residuals: torch.Tensor, cov: torch.Tensor | None) -> torch.Tensor:
        """One layer's update from its keys (n, d_in) and residuals (n, d_out); the closed form is what
        MEMIT's successors (EMMET, AlphaEdit) change."""
        return spread_delta(keys, residuals, cov, self.config.mom2_update_weight)
