"""What a sequential stream measures besides scores (issue 38): each edit's seconds and peak memory, and at each
evaluation point how far the edited weights have moved from the unedited ones.

Per edit (on its after-edit rows): `edit_seconds` (wall time of `edit()`) and `edit_peak_mb`: on a GPU the peak
memory allocated during that edit (torch.cuda.max_memory_allocated after a reset of the peak); on a CPU the
process's peak resident memory so far (getrusage's ru_maxrss): a high-water mark, so it grows only when an edit
needs more than any before, which is what a growing memory (GRACE's codebook) shows. `edit_memory` names which.

Per evaluation point (on its rows): `weight_delta_norm` = sqrt(sum over edited tensors of ||W - W0||_F^2) and
`weight_norm` = sqrt(sum of ||W0||_F^2) over the same tensors, in float64; their ratio is the growth. An editor that
changes no weight reports 0 and 0; a weight editor that does not say what it changed (`Editor.weight_deltas()` is
None) reports nothing.
"""

from __future__ import annotations

import resource
import sys
import time
from contextlib import contextmanager

import torch

CPU_MEMORY, GPU_MEMORY = "process peak RSS (ru_maxrss)", "cuda max_memory_allocated during the edit"


def _rss_peak_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


@contextmanager
def measure_edit(device: torch.device):
    """Time one edit and its peak memory; the dict it yields is filled when the block ends."""
    out: dict = {}
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    yield out
    if cuda:
        torch.cuda.synchronize(device)
    out["edit_seconds"] = round(time.perf_counter() - started, 6)
    out["edit_peak_mb"] = round(torch.cuda.max_memory_allocated(device) / (1 << 20) if cuda else _rss_peak_mb(), 3)
    out["edit_memory"] = GPU_MEMORY if cuda else CPU_MEMORY


@torch.no_grad()
def weight_growth(editor) -> dict:
    """`weight_delta_norm` and `weight_norm` of the editor's edits so far (module docstring); {} if not known."""
    if not editor.capabilities.changes_weights:
        return {"weight_delta_norm": 0.0, "weight_norm": 0.0}
    deltas = editor.weight_deltas()
    if deltas is None:
        return {}
    delta_sq = sum(float(torch.linalg.vector_norm(d.double()) ** 2) for _, d in deltas.values())
    base_sq = sum(float(torch.linalg.vector_norm(w.double()) ** 2) for w, _ in deltas.values())
    return {"weight_delta_norm": delta_sq ** 0.5, "weight_norm": base_sq ** 0.5}
