"""Saved editor state of a sequential run, so `--resume` continues after the last evaluation instead
of replaying every edit (a ROME edit costs seconds to minutes; replaying 90 of them to reach edit 91
was most of a resumed run).

After each evaluation point the protocol takes a snapshot of the editor (`Editor.sequential_state()`,
tensors; None where an editor cannot give it, which then replays as before) with the number of edits and
a digest of the edited case ids; the writer of the run directory keeps it as one safetensors file per editor
in `states/`, once the point's rows are in cases.jsonl. A resumed run loads it only if every unit up to that
point is in cases.jsonl and the cases are the same.

Two stores hand snapshots to that writer: `DirectoryStore` where the protocol runs in the writing process,
`RelayStore` on a Ray worker, which starts from the snapshot the driver read and gives each new one back
to the driver (bench/ray_executor.py), the only process that writes the run directory.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, safe_open, save_file

from bench.atomic import atomic_write
from bench.data.schema import EditCase
from bench.editor import Editor
from bench.lifelong import EvalPlan
from bench.runlog import unit_key_edit

logger = logging.getLogger(__name__)


@dataclass
class Snapshot:
    """An editor's state after `n_edits` edits of a stream; `cases`: digest of the edited case ids."""

    editor: str
    n_edits: int
    cases: str
    tensors: dict[str, torch.Tensor] = field(repr=False)


def states_dir(run_dir: Path) -> Path:
    """`RUN/states`, or with $BENCH_STATE_DIR a folder of its own there (named after the run, with a digest of
    its absolute path), so that states live where the run folder's size is not counted, e.g. a committed results/."""
    root = os.environ.get("BENCH_STATE_DIR")
    if not root:
        return Path(run_dir) / "states"
    run = Path(run_dir).resolve()
    return Path(root).expanduser() / f"{run.name}-{hashlib.sha256(str(run).encode()).hexdigest()[:12]}"


def state_path(state_dir: Path, editor_name: str) -> Path:
    return Path(state_dir) / f"{editor_name}.safetensors"


def _digest(cases: list[EditCase]) -> str:
    return hashlib.sha256("\n".join(c.case_id for c in cases).encode()).hexdigest()[:16]


def snapshot(editor: Editor, cases: list[EditCase], n_edits: int) -> Snapshot | None:
    tensors = editor.sequential_state()
    if tensors is None:
        return None
    # copies: the editor goes on editing while a writer (or Ray's transport) still holds the snapshot
    host = {k: v.detach().cpu().clone(memory_format=torch.contiguous_format) for k, v in tensors.items()}
    return Snapshot(editor.name, n_edits, _digest(cases[:n_edits]), host)


def write(state_dir: Path, snap: Snapshot) -> None:
    meta = {"editor": snap.editor, "n_edits": str(snap.n_edits), "cases": snap.cases}
    atomic_write(state_path(state_dir, snap.editor),  # a kill leaves the previous state
                 lambda tmp: save_file(snap.tensors, str(tmp), metadata=meta))


def read(state_dir: Path, editor_name: str, cases: list[EditCase], done: set[str], plan: EvalPlan) -> Snapshot | None:
    """The saved snapshot if it is usable: this editor's, of these cases, with every unit up to it in `done`.
    `plan`: the run's evaluation plan (bench/lifelong.py)."""
    path = state_path(state_dir, editor_name)
    if not path.is_file():
        return None
    with safe_open(str(path), "pt") as fh:
        meta = fh.metadata() or {}
    n = int(meta.get("n_edits", 0))
    needed = {unit_key_edit(c.case_id) for c in cases[:n]}
    needed |= plan.keys_through(n)
    if meta.get("editor") != editor_name or not 0 < n < len(cases) or meta.get("cases") != _digest(cases[:n]) \
            or not needed <= done:
        logger.warning("%s: %s does not match this run's finished units; replaying the edits", editor_name, path)
        return None
    return Snapshot(editor_name, n, meta["cases"], load_file(str(path)))


def apply(editor: Editor, snap: Snapshot | None) -> int:
    """Put an unedited editor into the snapshot's state; the number of edits it holds (0: none, replay)."""
    if snap is None:
        return 0
    editor.load_sequential_state(snap.tensors)
    logger.info("%s: resumed after %d edits from its saved state", editor.name, snap.n_edits)
    return snap.n_edits


def remove(state_dir: Path, editor_name: str) -> None:
    path = state_path(state_dir, editor_name)
    path.unlink(missing_ok=True)
    if path.parent.is_dir() and not any(path.parent.iterdir()):
        path.parent.rmdir()


class DirectoryStore:
    """The protocol runs in the process that writes the run directory: states go to `state_dir` directly."""

    def __init__(self, state_dir: Path):
        self.state_dir = Path(state_dir)
        self._held: Snapshot | None = None

    def load(self, editor: Editor, cases: list[EditCase], done: set[str], plan: EvalPlan) -> int:
        return apply(editor, read(self.state_dir, editor.name, cases, done, plan))

    def offer(self, snap: Snapshot) -> None:
        """A point's snapshot, before its rows are given to the writer; `settle()` once they are written."""
        self._held = snap

    def settle(self) -> None:
        if self._held is not None:
            write(self.state_dir, self._held)
            self._held = None

    def finish(self, editor: Editor) -> None:
        remove(self.state_dir, editor.name)


class RelayStore:
    """On a Ray worker: starts from the driver's snapshot; new ones wait in `pending` for the driver to write."""

    def __init__(self, initial: Snapshot | None):
        self.initial = initial
        self.pending: list[Snapshot] = []

    def load(self, editor: Editor, cases: list[EditCase], done: set[str], plan: EvalPlan) -> int:
        return apply(editor, self.initial)

    def offer(self, snap: Snapshot) -> None:
        self.pending.append(snap)

    def settle(self) -> None:
        pass

    def finish(self, editor: Editor) -> None:
        pass  # the driver removes the file once it wrote the editor's last unit

    def take(self) -> list[Snapshot]:
        out, self.pending = self.pending, []
        return out

