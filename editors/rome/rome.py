"""ROME (Meng et al. 2022): a rank-one update of one MLP output projection per edit.

k* = the projection's input at the subject's last token, averaged over context
prefixes; v* = its output there optimised so the model predicts the new target
(editors/locate/values.py); delta = (v* - W k) (C^-1 k*)^T / ((C^-1 k*) . k) with
k the bare prompt's key. ROME is not a batch method: the requests of one
edit() call are edited one after another, each computed on the model as the
previous ones left it (through an overlay, the weights are touched only once
at the end).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from bench.arguments import arg
from bench.errors import BenchError
from editors.locate import LocateConfig, LocateEditor
from editors.locate.hooks import overlay
from editors.locate.keys import read_at_lookup
from editors.locate.update import rank_one_delta
from editors.locate.values import optimise_values


@dataclass
class ROMEConfig(LocateConfig):
    layers: list[int] | None = arg(None, lo=0, layer=True, min_items=1, max_items=1,
                                   help="the one layer whose MLP output projection is edited; None: hparams")


class ROME(LocateEditor):
    name = "rome"
    config_class = ROMEConfig
    method_dir = Path(__file__).parent

    def compute_deltas(self, requests):
        if len(self.config.layers) != 1:
            raise BenchError(f"ROME edits one layer; got layers={self.config.layers}")
        site = (self.config.layers[0], "mlp_out")
        cov = self.moments([site])[site]
        contexts, settings, deltas = self.contexts, self.value_settings(), {}
        for request in requests:
            with overlay(self.model, deltas):
                keys, outputs = read_at_lookup(self.scorer, [request], contexts, [site])
                values = self.record(optimise_values(self.scorer, [request], contexts, [site], settings))
                anchor, current = read_at_lookup(self.scorer, [request], [""], [site])
            delta = self.request_delta(keys[site][0], outputs[site][0], anchor[site][0, 0], current[site][0, 0],
                                       values.targets[site][0], cov).float()
            deltas[site] = deltas[site] + delta if site in deltas else delta
        return deltas

    def request_delta(self, keys: torch.Tensor, outputs: torch.Tensor, key: torch.Tensor, output: torch.Tensor,
                      target: torch.Tensor, cov: torch.Tensor | None) -> torch.Tensor:
        """One request's update from its keys and outputs over the contexts (n_contexts, d), the bare prompt's
        key and output, and the optimised value. ROME: u = C^-1 k* with k* the keys' mean, and the bare
        prompt's key is mapped to `target` (the inconsistency r-ROME removes)."""
        return rank_one_delta(keys.mean(0), key, target - output, cov)
