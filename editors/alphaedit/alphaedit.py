"""AlphaEdit (Fang et al., ICLR 2025): MEMIT's update projected onto the null space of the preserved keys.

Values, layers and the spread of the residual over the layers are MEMIT's (editors/memit); only each layer's
closed form differs. P = U0 U0^T, U0 the eigenvectors of the preserved keys' second moment C = E[k k^T] (the
statistics MEMIT uses, editors/locate/stats.py) whose eigenvalues are below `nullspace_threshold`, an absolute
threshold as in the authors' `get_project` (experiments/evaluate.py of jianghoucheng/AlphaEdit). With this
edit's keys K (n, d_in), residuals R (n, d_out) and the keys of every earlier edit of this editor K_p (the
authors' `cache_c` = K_p^T K_p, kept per layer), the update is the authors' (AlphaEdit/AlphaEdit_main.py)

    delta^T = (P (K^T K + K_p^T K_p) + l2 I)^-1 P K^T R,

so delta = delta P: a key spanned by C's eigenvectors above the threshold (the preserved knowledge) keeps its
output exactly, a preserved key k0 in general changes by |delta P k0| (mean square <= threshold |delta|^2), and the
cache term keeps the outputs of the keys edited before. (The authors take the SVD of C; for a symmetric C that is
the eigendecomposition used here.) The cache is sequential state: `sequential_state()` carries it beside the
edited weights, and `reset()` empties it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from bench.arguments import arg
from bench.errors import BenchError
from editors.locate import LocateConfig
from editors.locate.hooks import Site
from editors.memit import MEMIT

CACHE_PREFIX = "alphaedit.cache."  # sequential-state tensor names of the key cache, beside the weights' names


@dataclass
class AlphaEditConfig(LocateConfig):
    nullspace_threshold: float | None = arg(None, above=0, help="eigenvalues of the keys' second moment below this "
                                                                "span the null space updates are projected on; "
                                                                "None: hparams")
    l2: float | None = arg(None, above=0, help="weight of the update's norm (the authors' L2); None: hparams")


def null_space_projector(cov: torch.Tensor, threshold: float) -> torch.Tensor:
    """P = U0 U0^T over the eigenvectors of `cov` whose eigenvalues are below `threshold` (float64)."""
    values, vectors = torch.linalg.eigh(cov.double())
    null = vectors[:, values < threshold]
    return null @ null.T


def projected_delta(keys: torch.Tensor, residuals: torch.Tensor, projector: torch.Tensor, cache: torch.Tensor,
                    l2: float) -> torch.Tensor:
    """AlphaEdit's update (d_out, d_in) for keys (n, d_in) and residuals (n, d_out), computed in float64."""
    k, r = keys.double(), residuals.double()
    p, cache = projector.to(k.device, torch.float64), cache.to(k.device, torch.float64)
    eye = torch.eye(k.shape[1], dtype=torch.float64, device=k.device)
    a = p @ (k.T @ k + cache) + l2 * eye
    return torch.linalg.solve(a, p @ k.T @ r).T


class AlphaEdit(MEMIT):
    name = "alphaedit"
    config_class = AlphaEditConfig
    method_dir = Path(__file__).parent

    def __init__(self, lm, config=None, resources=None):
        super().__init__(lm, config, resources)
        if not self.config.mom2_adjustment:
            raise BenchError("alphaedit: mom2_adjustment=false leaves no key statistics to take the null space of; "
                             "AlphaEdit needs them (mom2_adjustment=true). A large nullspace_threshold "
                             "(above every eigenvalue) gives P = I instead.")
        covs, device = self.moments(self.edited_sites()), next(self.model.parameters()).device
        threshold = self.config.nullspace_threshold  # P and the cache live beside the weights, float32 as the authors'
        self.projectors = {s: null_space_projector(c, threshold).to(device, torch.float32) for s, c in covs.items()}
        self.cache = {s: torch.zeros_like(p) for s, p in self.projectors.items()}
        self._pending: dict[Site, torch.Tensor] = {}

    def layer_delta(self, site, keys, residuals, cov):
        self._pending[site] = keys
        return projected_delta(keys, residuals, self.projectors[site], self.cache[site], self.config.l2)

    def edit(self, cases) -> None:
        self._pending = {}
        super().edit(cases)
        for site, keys in self._pending.items():  # the keys as edited: lower layers' deltas were in effect
            k = keys.double()
            self.cache[site] += (k.T @ k).to(self.cache[site])
        self._pending = {}

    def reset(self) -> None:
        super().reset()
        for cache in self.cache.values():
            cache.zero_()

    def sequential_state(self) -> dict[str, torch.Tensor]:
        cache = {f"{CACHE_PREFIX}layer{site[0]}.{site[1]}": c.clone() for site, c in self.cache.items()}
        return {**super().sequential_state(), **cache}

    def load_sequential_state(self, tensors: dict[str, torch.Tensor]) -> None:
        for site, cache in self.cache.items():
            cache.copy_(tensors[f"{CACHE_PREFIX}layer{site[0]}.{site[1]}"])
        super().load_sequential_state({k: v for k, v in tensors.items() if not k.startswith(CACHE_PREFIX)})

    def describe(self) -> dict:
        out = super().describe()
        out["null_space_dims"] = {f"layer{s[0]}.{s[1]}": int(round(float(p.double().trace())))
                                  for s, p in self.projectors.items()}
        return out
