"""What a site's output adds to the residual stream, and the output change that adds a given amount.

MEMIT and PMET optimise targets in the residual stream (or at one layer) and spread the difference over
several layers' outputs. That is right when a sub-block's output is added to the stream as it is (LLaMA,
GPT-2). Gemma 2/3 normalise it first (`post_feedforward_layernorm`, `post_attention_layernorm`; the
architecture table's `output_norm_path`): y = g * m / rms(m), with gains g from 0 to ~600 on
gemma3-270m. A residual written into m as if it were y is rescaled by g / rms(m), so the fact is not
written and the outputs of other prompts are disturbed. Here the new output is the one whose contribution
is closest (least squares) to y + residual: found by L-BFGS through the norm module itself, it is exact
where the target is reachable; the norm fixes rms(y / g), so a radial part never is, and coordinates of
zero gain are left as they are.

The same scale invariance lets a value optimised at such an output (ROME's v*, PMET's targets) grow
without any effect on the model until it hits the clamp (4 x its norm on gemma3-270m, every time): the
rank-one update then writes 4 x the change needed and spills it onto every key that overlaps the subject's.
`smallest_equivalent` replaces an optimised output by the one on the same ray (the same contribution, so
the same edit) that is closest to the current output.
"""

from __future__ import annotations

import torch

from bench.arch import output_norm
from editors.locate.hooks import Site


def contribution(model: torch.nn.Module, site: Site, out: torch.Tensor) -> torch.Tensor:
    """What output `out` of `site` adds to the residual stream: `out` itself, or its post-norm."""
    norm = output_norm(model, *site)
    if norm is None:
        return out
    return _apply(norm, out)


def smallest_equivalent(model: torch.nn.Module, site: Site, current: torch.Tensor,
                        target: torch.Tensor) -> torch.Tensor:
    """The output closest to `current` (n, d) with the stream contribution of `target` (n, d): c * target with c
    the projection of `current` on it (the same norm as `current` where that is not positive). `target` itself
    without a post-norm."""
    if output_norm(model, *site) is None:
        return target
    length = target.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    along = (current * target).sum(-1, keepdim=True) / length
    keep_norm = current.norm(dim=-1, keepdim=True)
    return target * torch.where(along > 0, along, keep_norm) / length


def site_residual(model: torch.nn.Module, site: Site, current: torch.Tensor, residual: torch.Tensor,
                  iterations: int = 200) -> torch.Tensor:
    """The change of `site`'s output `current` (n, d) that changes its stream contribution by `residual` (n, d).

    Without a post-norm this is `residual` itself (the same tensor, so such models compute exactly as before).
    """
    norm = output_norm(model, *site)
    if norm is None:
        return residual
    current = current.float()
    wanted = _apply(norm, current) + residual.float()
    scale = wanted.norm(dim=-1, keepdim=True).clamp_min(1e-12)  # so the tolerances are relative
    new = current.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([new], lr=1.0, max_iter=iterations, tolerance_grad=1e-12, tolerance_change=1e-14,
                            history_size=20, line_search_fn="strong_wolfe")

    def loss():
        opt.zero_grad()
        value = ((_through(norm, new) - wanted) / scale).pow(2).sum()
        value.backward()
        return value

    with torch.enable_grad():
        opt.step(loss)
    return new.detach() - current


def _through(norm: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    param = next(norm.parameters())
    return norm(x.to(device=param.device, dtype=param.dtype)).float()


@torch.no_grad()
def _apply(norm: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    return _through(norm, x).to(device=x.device)
