"""PMET (Li et al. 2023): separate attention and MLP targets, MLP weights updated.

Both components' outputs at the last edited layer get their own optimised
target (joint optimisation, editors/locate/values.py). As the paper places
the update, only the MLP output projections of the layer range change: each
layer takes residual / sqrt(remaining layers) of z_mlp - (current MLP output),
the square-root spread of the paper, through the MEMIT least-squares update.
The attention target only shapes the optimisation, unless `update_attention`
is set (an ablation the reference code allows), which also writes
z_attn - (current attention output) into the attention output projections. Residuals are taken
between what the outputs add to the residual stream, so a model that normalises them before the
residual add (Gemma) gets them moved through each layer's norm (editors/locate/stream.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from bench.arguments import arg
from editors.locate import LocateEditor
from editors.locate.hooks import overlay
from editors.locate.keys import read_at_lookup
from editors.locate.stream import contribution, site_residual
from editors.locate.update import spread_delta
from editors.locate.values import ValueSettings, optimise_values
from editors.memit import MEMITConfig


@dataclass
class PMETConfig(MEMITConfig):
    nll_loss_factor: float | None = arg(None, lo=0,
                                        help="weight of the new target's NLL in the value loss; None: hparams")
    update_attention: bool | None = arg(None, help="also update attention output projections (not in the paper); "
                                                   "None: hparams")


class PMET(LocateEditor):
    name = "pmet"
    config_class = PMETConfig
    method_dir = Path(__file__).parent

    def edited_sites(self):
        parts = ("o", "mlp_out") if self.config.update_attention else ("mlp_out",)
        return [(layer, part) for layer in self.config.layers for part in parts]

    def value_settings(self) -> ValueSettings:
        cfg = self.config
        return ValueSettings(cfg.v_num_grad_steps, cfg.v_lr, cfg.v_weight_decay, cfg.kl_factor,
                             cfg.clamp_norm_factor, nll_factor=cfg.nll_loss_factor)

    def compute_deltas(self, requests):
        layers = self.config.layers
        top = layers[-1]
        z_sites = [(top, "o"), (top, "mlp_out")]
        covs = self.moments(self.edited_sites())
        values = self.record(optimise_values(self.scorer, requests, self.contexts, z_sites, self.value_settings(),
                                 self.config.value_chunk))
        deltas = {}
        for i, layer in enumerate(layers):
            for part in ("o", "mlp_out"):  # forward order: attention first
                site = (layer, part)
                if site not in covs:
                    continue
                with overlay(self.model, deltas):
                    keys, outputs = read_at_lookup(self.scorer, requests, self.contexts, [site, (top, part)])
                top_site = (top, part)
                stream = (contribution(self.model, top_site, values.targets[top_site])
                          - contribution(self.model, top_site, outputs[top_site][:, 0]))
                residuals = site_residual(self.model, site, outputs[site][:, 0], stream / math.sqrt(len(layers) - i))
                deltas[site] = spread_delta(keys[site].mean(1), residuals, covs[site],
                                            self.config.mom2_update_weight).float()
        return deltas
