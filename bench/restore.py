"""The one restore mechanism: keep originals of touched parameters, put them back bitwise; and the fingerprint
that proves a `reset()` left the whole model as it was (bits, flags, module tree, hooks, and every module's other
attributes: a patched `forward`, a changed `scaling`, a replaced config).

An editor whose modules keep state of their own between edits that does not change the forward pass declares it in
`Editor.runtime_attributes` (fnmatch patterns of "module.attribute"); the check then leaves those alone.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import types
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, fields

import numpy as np
import torch
import torch.nn.modules.module as torch_module

CHUNK_BYTES = 1 << 24  # 16 MiB: the piece copied to the host (off the CPU) and hashed at once
HASH_WORKERS = max(1, min(8, os.cpu_count() or 1))  # hashlib releases the GIL on large buffers
MODULE_HOOKS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
TENSOR_HOOKS = ("_backward_hooks", "_post_accumulate_grad_hooks")
# Module attributes the other fields already cover (tensors, children, hooks, mode), left out of `attributes`.
COVERED_ATTRIBUTES = frozenset({
    "_parameters", "_buffers", "_modules", "_non_persistent_buffers_set", "training", "_is_full_backward_hook",
    "_forward_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called", "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs", "_backward_hooks", "_backward_pre_hooks", "_state_dict_hooks",
    "_state_dict_pre_hooks", "_load_state_dict_pre_hooks", "_load_state_dict_post_hooks"})
PLAIN_VALUES = (type(None), bool, int, float, complex, str, bytes, torch.dtype, torch.device, torch.Size)
GLOBAL_HOOKS = ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
                "_global_backward_pre_hooks")


class WeightRestorer:
    """Snapshot parameters before an editor changes them; `restore()` copies them back."""

    def __init__(self, model: torch.nn.Module):
        self.model = model
        self._saved: dict[str, torch.Tensor] = {}

    def save(self, names) -> None:
        params = dict(self.model.named_parameters())
        for name in names:
            if name not in self._saved:  # keep the first (pre-edit) value across sequential edits
                self._saved[name] = params[name].detach().clone()

    @torch.no_grad()
    def restore(self) -> None:
        params = dict(self.model.named_parameters())
        for name, original in self._saved.items():
            params[name].copy_(original)
        self._saved.clear()

    @property
    def saved_names(self) -> list[str]:
        return list(self._saved)

    def edited(self) -> dict[str, torch.Tensor]:
        """The current values of every parameter changed so far (a sequential run's saved state)."""
        params = dict(self.model.named_parameters())
        return {name: params[name].detach().clone() for name in self._saved}

    @torch.no_grad()
    def deltas(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """name -> (original, current minus original) of every parameter changed so far (`Editor.weight_deltas`)."""
        params = dict(self.model.named_parameters())
        return {name: (original, params[name].detach() - original) for name, original in self._saved.items()}

    @torch.no_grad()
    def load_edited(self, values: dict[str, torch.Tensor]) -> None:
        """Set parameters to `values` (from `edited()`), keeping the originals so `restore()` still works."""
        self.save(values)
        params = dict(self.model.named_parameters())
        for name, value in values.items():
            params[name].copy_(value)


class RestoredWeights:
    """The Editor methods of an editor whose edits change weights that `self.restorer` (a WeightRestorer) saved
    first: reset, the weight-norm growth's deltas and a sequential run's saved state are all the restorer's."""

    restorer: WeightRestorer

    def reset(self) -> None:
        self.restorer.restore()

    def weight_deltas(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        return self.restorer.deltas()

    def sequential_state(self) -> dict[str, torch.Tensor]:
        return self.restorer.edited()

    def load_sequential_state(self, tensors: dict[str, torch.Tensor]) -> None:
        self.restorer.load_edited(tensors)


@dataclass(frozen=True)
class Fingerprint:
    """Everything of a model a `reset()` must put back; equal fingerprints = the same model for scoring."""

    parameters: str  # SHA-256 of every parameter's name, dtype, shape and bits
    buffers: str  # the same for every buffer, persistent or not (rotary inv_freq included)
    trainable: tuple[str, ...]  # parameters with requires_grad set
    modules: str  # SHA-256 of the module tree: names, classes, train/eval mode
    hooks: tuple[tuple[str, str, int], ...]  # (owner, hook dict, entries) for every non-empty hook dict
    attributes: tuple[tuple[str, str], ...] = ()  # ("module.attribute", description) of every other attribute

    def differences(self, reference: Fingerprint, ignore: tuple[str, ...] = ()) -> list[str]:
        """What differs from `reference`, in words (empty: nothing); `ignore`: attribute patterns to leave alone
        (an editor's declared `runtime_attributes`)."""
        out = [f"{f.name} differ" for f in fields(self) if f.name in ("parameters", "buffers", "modules")
               and getattr(self, f.name) != getattr(reference, f.name)]
        flipped = sorted(set(self.trainable) ^ set(reference.trainable))
        if flipped:
            out.append(f"requires_grad changed on {_some(flipped)}")
        hooks = sorted({f"{owner}.{kind}" for owner, kind, _ in set(self.hooks) ^ set(reference.hooks)})
        if hooks:
            out.append(f"hooks added or removed on {_some(hooks)}")
        before, now = dict(reference.attributes), dict(self.attributes)
        changed = sorted(k for k in before.keys() | now.keys() if before.get(k, _ABSENT) != now.get(k, _ABSENT)
                         and not any(fnmatch.fnmatchcase(k, pattern) for pattern in ignore))
        if changed:
            out.append("module attributes changed: " + _some([_attribute_change(k, before, now) for k in changed]))
        return out


_ABSENT = "<absent>"


def _attribute_change(key: str, before: dict, now: dict) -> str:
    if key not in before:
        return f"{key} added ({now[key]})"
    if key not in now:
        return f"{key} removed (was {before[key]})"
    return f"{key} was {before[key]}, is {now[key]}"


def fingerprint(model: torch.nn.Module, host_bytes: bool | None = None) -> Fingerprint:
    """The model's `Fingerprint`; `host_bytes=False` copies chunks as off the CPU, None decides by device."""
    params = list(model.named_parameters())
    return Fingerprint(
        parameters=tensors_digest(params, host_bytes),
        buffers=tensors_digest(model.named_buffers(), host_bytes),
        trainable=tuple(n for n, p in params if p.requires_grad),
        modules=hashlib.sha256("\n".join(f"{n}:{type(m).__module__}.{type(m).__qualname__}:{m.training}"
                                         for n, m in model.named_modules()).encode()).hexdigest(),
        hooks=hook_counts(model),
        attributes=module_attributes(model),
    )


def module_attributes(model: torch.nn.Module) -> tuple[tuple[str, str], ...]:
    """Every module's instance attributes besides tensors, children and hooks, each described so that a change
    of value, of bound method (a patched `forward`) or of object identity shows: what a forward pass reads."""
    seen: dict[int, str] = {}
    return tuple((f"{name or '<model>'}.{attr}", _describe(value, seen))
                 for name, module in model.named_modules()
                 for attr, value in sorted(vars(module).items()) if attr not in COVERED_ATTRIBUTES)


def _describe(value, seen: dict[int, str], depth: int = 0) -> str:
    """A short exact description: plain values by repr, tensors by their bits, callables and other objects by
    what they are and their identity, containers and config objects by their contents (two levels deep)."""
    if isinstance(value, PLAIN_VALUES):
        return repr(value)
    if isinstance(value, torch.Tensor):
        return f"tensor {tensors_digest([('', value)])[:16]}"
    if isinstance(value, types.MethodType):
        return f"method {_qualname(value.__func__)} of {type(value.__self__).__name__}@{id(value.__self__):x}"
    if callable(value) and not isinstance(value, (type, torch.nn.Module)) and not hasattr(value, "__dict__"):
        return f"callable {_qualname(value)}@{id(value):x}"
    key = id(value)
    if key in seen:  # a config shared by every layer is described once per fingerprint
        return seen[key]
    if depth >= 2 or isinstance(value, (torch.nn.Module, type, types.FunctionType, types.ModuleType)):
        text = f"{type(value).__qualname__}@{key:x}"
    elif isinstance(value, (list, tuple)):
        text = "[" + ", ".join(_describe(v, seen, depth + 1) for v in value) + "]"
    elif isinstance(value, (set, frozenset)):
        text = "{" + ", ".join(sorted(_describe(v, seen, depth + 1) for v in value)) + "}"
    elif isinstance(value, dict) or hasattr(value, "__dict__"):
        items = value.items() if isinstance(value, dict) else vars(value).items()
        text = (f"{type(value).__qualname__}@{key:x}" if not isinstance(value, dict) else "")
        text += "{" + ", ".join(f"{k!r}: {_describe(v, seen, depth + 1)}" for k, v in items) + "}"
    else:
        text = f"{type(value).__qualname__}@{key:x}"
    text = hashlib.sha256(text.encode()).hexdigest()[:16] if len(text) > 120 else text
    seen[key] = text
    return text


def _qualname(fn) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__qualname__)}"


def hook_counts(model: torch.nn.Module) -> tuple[tuple[str, str, int], ...]:
    """Entries of every non-empty hook dict of the model's modules and parameters, and of torch's global ones."""
    owners = [(n or "<model>", m, MODULE_HOOKS) for n, m in model.named_modules()]
    owners += [(n, p, TENSOR_HOOKS) for n, p in model.named_parameters()]
    owners.append(("<global>", torch_module, GLOBAL_HOOKS))
    counts = ((name, d, len(getattr(owner, d, None) or ())) for name, owner, dicts in owners for d in dicts)
    return tuple(c for c in counts if c[2])


def parameter_hash(model: torch.nn.Module, host_bytes: bool | None = None) -> str:
    """The digest of every parameter's bits (`Fingerprint.parameters`)."""
    return tensors_digest(model.named_parameters(), host_bytes)


def tensors_digest(named: Iterable[tuple[str, torch.Tensor]], host_bytes: bool | None = None) -> str:
    """SHA-256 over each tensor's name, dtype, shape and bits, the same on every device.

    The bits are read in fixed `CHUNK_BYTES` pieces (copied to the host one at a time when the tensor is off
    the CPU, so no model-sized copy is made) and hashed in parallel threads; the outer hash takes the headers
    and the pieces' digests in order. Any changed bit changes the digest (no sums that changes can cancel in).
    """
    outer = hashlib.sha256()
    with ThreadPoolExecutor(HASH_WORKERS) as pool:
        window: deque[bytes | Future] = deque()
        for name, tensor in named:
            window.append(f"{name}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
            for piece in _pieces(tensor, host_bytes):
                window.append(pool.submit(_sha256, piece))
                while len(window) > 2 * HASH_WORKERS:  # bounds the host memory held by pieces in flight
                    _absorb(outer, window.popleft())
        while window:
            _absorb(outer, window.popleft())
    return outer.hexdigest()


def _pieces(tensor: torch.Tensor, host_bytes: bool | None) -> Iterator[np.ndarray]:
    """The tensor's raw bytes in `CHUNK_BYTES` pieces as host arrays (views on the CPU unless host_bytes=False)."""
    raw = tensor.detach().reshape(-1).contiguous().view(torch.uint8)
    on_host = raw.device.type == "cpu" if host_bytes is None else host_bytes
    for lo in range(0, raw.numel(), CHUNK_BYTES):
        piece = raw[lo:lo + CHUNK_BYTES]
        yield (piece if on_host else piece.to("cpu", copy=True)).numpy()


def _sha256(piece: np.ndarray) -> bytes:
    return hashlib.sha256(piece).digest()


def _absorb(outer, item: bytes | Future) -> None:
    outer.update(item if isinstance(item, bytes) else item.result())


def _some(names: list[str], n: int = 3) -> str:
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")
