"""r-ROME (Gupta et al. 2024, "Rebuilding ROME"): ROME with the same key where the update is computed and applied.

ROME's update is built from u = C^-1 k* with k* the key averaged over context prefixes, but it maps the bare
prompt's key k (not k*) to the optimised value: delta = (v* - W k) u^T / (u . k). The two keys differ, so the
update is not the rank-one solution for either, and in sequential editing its norm can blow up (the paper's model
collapse). r-ROME uses one key throughout, as EasyEdit's `r_rome` does: by default (`key_source=prefixes`,
EasyEdit's `enable_random_prefix_keys`) k*, and the residual is v* minus the output the layer gives k* (the
outputs' mean over the prefixes, = W k* for a linear map): delta = (v* - W k*) u^T / (u . k*), so (W + delta) k* =
v* exactly. `key_source=prompt` (EasyEdit's `enable_prompt_keys`) uses the bare prompt's key k in u as well.
Everything else (layer, value optimisation, one request after another) is our ROME's (editors/rome).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.arguments import arg
from editors.locate.update import rank_one_delta
from editors.rome import ROME
from editors.rome.rome import ROMEConfig

KEY_SOURCES = ("prefixes", "prompt")


@dataclass
class RROMEConfig(ROMEConfig):
    key_source: str | None = arg(None, choices=KEY_SOURCES, help="the one key of the update: the mean over the "
                                                                 "context prefixes, or the bare prompt's; "
                                                                 "None: hparams")


class RROME(ROME):
    name = "r-rome"
    config_class = RROMEConfig
    method_dir = Path(__file__).parent

    def request_delta(self, keys, outputs, key, output, target, cov):
        if self.config.key_source == "prompt":
            return rank_one_delta(key, key, target - output, cov)
        mean = keys.mean(0)
        return rank_one_delta(mean, mean, target - outputs.mean(0), cov)
