"""r-ROME (Gupta et al. 2024, "Rebuilding ROME"): ROME with the same key where the update is computed and applied.

ROME's update is built from u = C^-1 k* with k* the key averaged over context prefixes, but it maps the bare
prompt's key k (not k*) to the optimised value: delta = (v* - W k) u^T / (u . k). The two keys differ, so the
update is not the rank-one solution for either, and in sequential editing its norm can blow up (the paper's model
collapse). r-ROME uses one key k_e in u and in the denominator: delta = r (C^-1 k_e)^T / ((C^-1 k_e) . k_e).
Three sources of k_e (`key_source`), each a released configuration of the authors:

- `prefixes`: k_e = k*, the flat mean over the bare prompt and every prefix, and r = v* - (mean output over the
  contexts) = v* - W k_e, so (W + delta) k_e = v* exactly. EasyEdit's default `enable_random_prefix_keys`
  (easyeditor/models/r_rome/compute_u.py, compute_v.py), from the authors' rebuilding-rome
  rome/compute_v.py lines 169-209 (commit 4095d04).
- `prompt`: k_e = the bare prompt's key k, r = v* - W k (EasyEdit's `enable_prompt_keys`; the paper's p-ROME).
- `types`: k_e = the mean over context types of each type's mean key, the types being the bare prompt and one
  per prefix length, and r = v* - W k (the bare prompt's output). The authors' MEMIT-form r-ROME in
  rebuilding-rome at commit 82b789f (r_rome/compute_ks.py: the mean per context type; r_rome_main.py,
  execute_memit: targets = zs - cur_zs at the bare prompt, adj_k from the layer keys), whose prefixes are one
  type of 5 texts of 10 tokens (get_context_templates there), so the bare prompt's key weighs 1/2.

Everything else (layer, value optimisation, one request after another) is our ROME's (editors/rome).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from bench.arguments import arg
from editors.locate.update import rank_one_delta
from editors.rome import ROME
from editors.rome.rome import ROMEConfig

KEY_SOURCES = ("prefixes", "prompt", "types")


@dataclass
class RROMEConfig(ROMEConfig):
    key_source: str | None = arg(None, choices=KEY_SOURCES, help="the update's one key: mean over contexts, the bare "
                                                                 "prompt's, or mean over context types; None: hparams")


def type_mean(keys: torch.Tensor, n_lengths: int) -> torch.Tensor:
    """Mean over context types of each type's mean: keys (1 + n_lengths * per_length, d), the bare prompt's first
    and then each length's prefixes together (editors/locate/sampling.py's order)."""
    if len(keys) == 1 or n_lengths == 0:
        return keys[0]
    groups = keys[1:].reshape(n_lengths, -1, keys.shape[-1]).mean(1)
    return torch.cat([keys[:1], groups]).mean(0)


class RROME(ROME):
    name = "r-rome"
    config_class = RROMEConfig
    method_dir = Path(__file__).parent

    def request_delta(self, keys, outputs, key, output, target, cov):
        if self.config.key_source == "prompt":
            return rank_one_delta(key, key, target - output, cov)
        if self.config.key_source == "types":
            mean = type_mean(keys, len(self.config.context_lengths))
            return rank_one_delta(mean, mean, target - output, cov)
        mean = keys.mean(0)
        return rank_one_delta(mean, mean, target - outputs.mean(0), cov)
