"""EMMET (Gupta et al. 2024, "A Unified Framework for Model Editing"): batched ROME, with equality constraints.

MEMIT minimises ||delta K0||^2 + ||(W + delta) K - V||^2 (preservation traded against memorisation); EMMET keeps
ROME's form, minimise ||delta K0||^2 subject to (W + delta) k_i = v_i for every edited key exactly, whose closed
form for keys K (n, d_in) and residuals R = V - W K (n, d_out) is

    delta = R^T (K C^-1 K^T)^-1 K C^-1,        C = mom2_update_weight * E[k0 k0^T] + update_norm_lambda * I.

`emmet_lambda` is added to the diagonal of K C^-1 K^T, as EasyEdit's `emmet_main.py` does, against an
ill-conditioned (K C^-1 K^T) (two edits of one subject); it relaxes the constraints (delta k_i = r_i - emmet_lambda
(K C^-1 K^T + emmet_lambda I)^-1 r_i), and 0 makes them exact. With one key and emmet_lambda = 0 this is ROME's
update with the same key in both places (r-ROME). Layers, values and the spread of the residual over the layers
are MEMIT's (editors/memit), as in EasyEdit's implementation and the paper's multi-layer experiments.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from bench.arguments import arg
from editors.memit import MEMIT, MEMITConfig


@dataclass
class EMMETConfig(MEMITConfig):
    emmet_lambda: float | None = arg(None, lo=0, help="added to the diagonal of K C^-1 K^T (0: exact equality "
                                                      "constraints); None: hparams")
    update_norm_lambda: float | None = arg(None, lo=0, help="added to the diagonal of C (EasyEdit's "
                                                            "update_norm_lambda); None: hparams")


def constrained_delta(keys: torch.Tensor, residuals: torch.Tensor, cov: torch.Tensor | None, cov_weight: float,
                      cov_ridge: float, emmet_lambda: float) -> torch.Tensor:
    """EMMET's update (d_out, d_in) for keys (n, d_in) and residuals (n, d_out), in float64 (C = None: C0 = I)."""
    k, r = keys.double(), residuals.double()
    eye = torch.eye(k.shape[1], dtype=torch.float64, device=k.device)
    c0 = eye if cov is None else cov.to(device=k.device, dtype=torch.float64)
    c = cov_weight * c0 + cov_ridge * eye
    c_inv_k = torch.linalg.solve(c, k.T)  # C^-1 K^T (d_in, n)
    d = k @ c_inv_k + emmet_lambda * torch.eye(k.shape[0], dtype=torch.float64, device=k.device)
    return (r.T @ torch.linalg.solve(d, c_inv_k.T))


class EMMET(MEMIT):
    name = "emmet"
    config_class = EMMETConfig
    method_dir = Path(__file__).parent

    def layer_delta(self, site, keys, residuals, cov):
        cfg = self.config
        return constrained_delta(keys, residuals, cov, cfg.mom2_update_weight, cfg.update_norm_lambda,
                                 cfg.emmet_lambda)
