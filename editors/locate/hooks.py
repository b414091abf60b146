"""Read and replace module inputs/outputs by architecture-table names; weight deltas as overlays.

A site is `(layer, part)`: `part` is a part of bench/arch.py (`mlp_out`, `o`,
...), `"block"` for the whole decoder layer (its output is the residual
stream) or `"embed"` for the token embedding (the layer is ignored). All
hooks live in one handle list per context manager and are removed on exit,
also on errors (the pyvene/peft habit).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch

from bench.arch import arch_of, get_module

Site = tuple[int, str]
BLOCK = "block"
EMBED = "embed"


def site_module(model: torch.nn.Module, site: Site) -> torch.nn.Module:
    layer, part = site
    if part == BLOCK:
        return model.get_submodule(f"{arch_of(model).layers}.{layer}")
    if part == EMBED:
        return model.get_submodule(arch_of(model).embed)
    return get_module(model, layer, part)


def _first(value):
    return value[0] if isinstance(value, tuple) else value


def _replace_first(value, new):
    return (new, *value[1:]) if isinstance(value, tuple) else new


class StopForward(Exception):
    """Raised by a hook to end a forward pass once the last site of interest has run."""


@dataclass
class Recording:
    inputs: dict[Site, torch.Tensor] = field(default_factory=dict)
    outputs: dict[Site, torch.Tensor] = field(default_factory=dict)


EditFn = Callable[[Site, torch.Tensor], torch.Tensor]


@contextlib.contextmanager
def hooked(
    model: torch.nn.Module,
    sites: list[Site],
    *,
    read_inputs: bool = False,
    read_outputs: bool = False,
    edit_input: EditFn | None = None,
    edit_output: EditFn | None = None,
    stop_after: Site | None = None,
) -> Iterator[Recording]:
    """Hook `sites`: optionally replace the first positional input / the output, record them, stop early.

    Recorded tensors are the ones after replacement (what the module used or
    produced). Use `run(model, batch, ...)` to swallow `StopForward`.
    """
    rec, handles = Recording(), []

    def pre_hook(site):
        def fn(_module, args):
            x = args[0]
            if edit_input is not None:
                x = edit_input(site, x)
                args = (x, *args[1:])
            if read_inputs:
                rec.inputs[site] = x
            return args

        return fn

    def post_hook(site):
        def fn(_module, _args, output):
            out = _first(output)
            if edit_output is not None:
                out = edit_output(site, out)
                output = _replace_first(output, out)
            if read_outputs:
                rec.outputs[site] = out
            if site == stop_after:
                raise StopForward
            return output

        return fn

    try:
        for site in sites:
            module = site_module(model, site)
            if read_inputs or edit_input is not None:
                handles.append(module.register_forward_pre_hook(pre_hook(site)))
            handles.append(module.register_forward_hook(post_hook(site)))
        yield rec
    finally:
        for handle in handles:
            handle.remove()


def forward(model: torch.nn.Module, batch, n_keep: int = 0):
    """One forward pass of a scorer `Batch`; returns logits, or None when a hook stopped it early."""
    try:
        return model(
            input_ids=batch.input_ids, attention_mask=batch.attention_mask, position_ids=batch.position_ids,
            logits_to_keep=n_keep, use_cache=False,
        ).logits
    except StopForward:
        return None


@contextlib.contextmanager
def overlay(model: torch.nn.Module, deltas: dict[Site, torch.Tensor]) -> Iterator[None]:
    """Run the model as if `W += delta` for each site, without touching the weights.

    Deltas are (out_features, in_features) whatever the storage layout, so
    `output + input @ delta.T` is right for Linear and GPT-2 Conv1D alike.
    Enter this before other hooks on the same modules: hooks run in
    registration order, so readers then see the overlaid output.
    """
    handles = []

    def hook(site):
        def fn(_module, args, output):
            out = _first(output)
            delta = deltas[site].to(device=out.device, dtype=out.dtype)
            return _replace_first(output, out + args[0] @ delta.T)

        return fn

    try:
        for site in deltas:
            handles.append(site_module(model, site).register_forward_hook(hook(site)))
        yield
    finally:
        for handle in handles:
            handle.remove()
