"""Where SERAC checkpoints live: <checkpoint root>/serac/<model>/, the root being $BENCH_CHECKPOINT_DIR or else the
checkout's results/checkpoints (bench/checkpoints.py), or an explicit path."""

from __future__ import annotations

from pathlib import Path

from bench import checkpoints
from bench.errors import BenchError

CHECKPOINT_FILE = "scope_classifier.safetensors"


def repo_root() -> Path:
    return checkpoints.SOURCE_ROOT


def model_dirname(model_name: str) -> str:
    """A folder name for a model alias, hub id ('org/name' -> 'org--name') or local directory (its name)."""
    path = Path(model_name).expanduser()
    if path.is_dir():
        return path.resolve().name
    return model_name.strip().strip("/").replace("/", "--")


def default_checkpoint_dir(model_name: str) -> Path:
    """<checkpoint root>/serac/<model> ($BENCH_CHECKPOINT_DIR read now), or a BenchError when there is no root."""
    return checkpoints.editor_root("serac", model_name) / model_dirname(model_name)


def resolve_checkpoint(explicit: str, model_name: str) -> Path:
    """The classifier file: `explicit` (a file or a folder holding one) or the model's default folder."""
    where = Path(explicit).expanduser() if explicit else default_checkpoint_dir(model_name)
    file = where / CHECKPOINT_FILE if where.is_dir() or not where.suffix else where
    if file.is_file():
        return file
    if explicit:
        raise BenchError(
            f"serac: no checkpoint at {file} (given as serac:checkpoint). Train one with `python -m bench train "
            f"serac --model {model_name} --out DIR`, or pass serac:checkpoint=PATH for an existing one."
        )
    root = checkpoints.checkpoint_root()
    raise BenchError(
        f"serac: no checkpoint at {file} (the checkpoint root is {checkpoints.describe_root(root)}). Train one "
        f"with `python -m bench train serac --model {model_name}` (it writes that file), or point at an existing "
        f"one with serac:checkpoint=PATH in --editor-args or {checkpoints.ENV}=DIR (the folder holding "
        "serac/<model>/)."
    )
