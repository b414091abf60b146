"""Saved editor state of a sequential run, so `--resume` continues after the last evaluation instead
of replaying every edit (a ROME edit costs seconds to minutes; replaying 90 of them to reach edit 91
was most of a resumed run).

After each evaluation point the protocol asks the editor for its state (`Editor.sequential_state()`,
tensors; None where an editor cannot give it, which then replays as before) and writes it, with the
number of edits and a digest of the edited case ids, to one safetensors file per editor. A resumed run
loads it only if every unit up to that point is in cases.jsonl and the cases are the same.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from safetensors.torch import load_file, safe_open, save_file

from bench.atomic import atomic_write
from bench.data.schema import EditCase
from bench.editor import Editor
from bench.lifelong import EvalPlan
from bench.runlog import unit_key_edit

logger = logging.getLogger(__name__)


def state_path(state_dir: Path, editor: Editor) -> Path:
    return Path(state_dir) / f"{editor.name}.safetensors"


def _digest(cases: list[EditCase]) -> str:
    return hashlib.sha256("\n".join(c.case_id for c in cases).encode()).hexdigest()[:16]


def save(state_dir: Path, editor: Editor, cases: list[EditCase], n_edits: int) -> None:
    tensors = editor.sequential_state()
    if tensors is None:
        return
    path = state_path(state_dir, editor)
    meta = {"editor": editor.name, "n_edits": str(n_edits), "cases": _digest(cases[:n_edits])}
    host = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    atomic_write(path, lambda tmp: save_file(host, str(tmp), metadata=meta))  # a kill leaves the previous state


def load(state_dir: Path, editor: Editor, cases: list[EditCase], done: set[str], plan: EvalPlan) -> int:
    """Load the saved state into `editor` if it is usable; the number of edits it holds (0: replay). `plan`: the
    run's evaluation plan (bench/lifelong.py), whose units up to that point must be done."""
    path = state_path(state_dir, editor)
    if not path.is_file():
        return 0
    with safe_open(str(path), "pt") as fh:
        meta = fh.metadata() or {}
    n = int(meta.get("n_edits", 0))
    needed = {unit_key_edit(c.case_id) for c in cases[:n]}
    needed |= plan.keys_through(n)
    if meta.get("editor") != editor.name or not 0 < n < len(cases) or meta.get("cases") != _digest(cases[:n]) \
            or not needed <= done:
        logger.warning("%s: %s does not match this run's finished units; replaying the edits", editor.name, path)
        return 0
    editor.load_sequential_state(load_file(str(path)))
    logger.info("%s: resumed after %d edits from %s", editor.name, n, path)
    return n


def remove(state_dir: Path, editor: Editor) -> None:
    path = state_path(state_dir, editor)
    path.unlink(missing_ok=True)
    if path.parent.is_dir() and not any(path.parent.iterdir()):
        path.parent.rmdir()
