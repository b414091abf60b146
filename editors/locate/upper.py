"""Rerun the decoder layers above a site on new hidden states, without the layers below.

An optimisation that changes one layer's output only (WISE's side memory) needs the layers below it once per
batch. `capture` runs one pass without gradients, reads the inputs of chosen sites and records every call the
model's own forward makes to the decoder layers from `start` on (attention masks with left padding, rotary
position embeddings, Gemma's per-layer sliding-window masks: all as the model built them), and
`UpperLayers.logits` replays those calls on other hidden states, then the final norm and the LM head.
`from_mlp` does this for a change inside one layer's MLP: each rerun starts at that MLP's cached input.
Blocks whose MLP reads the block's input in parallel with the attention (GPT-J) are not `sequential`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bench.arch import arch_of, get_module, num_layers, output_norm, text_config
from editors.locate.hooks import Recording, Site, StopForward, forward, hooked


@dataclass
class UpperLayers:
    """The decoder-layer calls of one captured pass: (layer, arguments after the hidden states, keywords)."""

    model: torch.nn.Module
    calls: list[tuple[torch.nn.Module, tuple, dict]]

    def logits(self, hidden: torch.Tensor, n_keep: int = 0) -> torch.Tensor:
        """Logits of the last `n_keep` positions (all when 0) with `hidden` entering the first captured layer
        (or the final norm when none was captured)."""
        for layer, args, kwargs in self.calls:
            out = layer(hidden, *args, **kwargs)
            hidden = out[0] if isinstance(out, tuple) else out
        return head_logits(self.model, hidden, n_keep)


def head_logits(model: torch.nn.Module, hidden: torch.Tensor, n_keep: int = 0) -> torch.Tensor:
    """Final norm, LM head and (Gemma) tanh soft-capping, in the order of the models' own forward."""
    arch = arch_of(model)
    hidden = model.get_submodule(arch.final_norm)(hidden)
    logits = model.get_submodule(arch.lm_head)(hidden[:, -n_keep:] if n_keep else hidden)
    cap = getattr(text_config(model), "final_logit_softcapping", None)
    return logits if cap is None else torch.tanh(logits / cap) * cap


@torch.no_grad()
def capture(model: torch.nn.Module, batch, start: int, sites: list[Site] = ()) -> tuple[UpperLayers, Recording]:
    """One pass over a scorer `Batch` that stops at the final norm: the calls of layers `start`.. and the inputs
    of `sites` (which must lie below the final norm)."""
    arch = arch_of(model)
    layers = model.get_submodule(arch.layers)
    calls: list[tuple[torch.nn.Module, tuple, dict]] = []

    def record(module, args, kwargs):
        calls.append((module, tuple(args[1:]), dict(kwargs)))

    def stop(_module, _args):
        raise StopForward

    handles = [layers[i].register_forward_pre_hook(record, with_kwargs=True) for i in range(start, num_layers(model))]
    handles.append(model.get_submodule(arch.final_norm).register_forward_pre_hook(stop))
    try:
        with hooked(model, list(sites), read_inputs=True) as rec:
            forward(model, batch)
    finally:
        for handle in handles:
            handle.remove()
    return UpperLayers(model, calls), rec


@dataclass
class FromMLP:
    """Layer `layer`'s MLP on its cached input, its (post-normed) output added to the cached residual stream,
    then the captured layers above: the model's logits for any change made inside that MLP."""

    upper: UpperLayers
    mlp: torch.nn.Module
    post_norm: torch.nn.Module | None
    mlp_input: torch.Tensor
    residual: torch.Tensor

    def block_output(self) -> torch.Tensor:
        out = self.mlp(self.mlp_input)
        return self.residual + (out if self.post_norm is None else self.post_norm(out))

    def logits(self, n_keep: int = 0) -> torch.Tensor:
        return self.upper.logits(self.block_output(), n_keep)


def sequential(model: torch.nn.Module) -> bool:
    """The MLP reads the residual stream after the attention (its pre-norm's input is what it adds to)."""
    arch = arch_of(model)
    return arch.mlp_norm != arch.attn_norm


def from_mlp(model: torch.nn.Module, batch, layer: int) -> FromMLP:
    """Capture `batch` once for reruns from layer `layer`'s MLP (a `sequential` model only)."""
    mlp, norm = (layer, "mlp"), (layer, "mlp_norm")
    upper, rec = capture(model, batch, layer + 1, [mlp, norm])
    return FromMLP(upper, get_module(model, *mlp), output_norm(model, layer, "mlp"), rec.inputs[mlp], rec.inputs[norm])
