"""Where SERAC checkpoints live: results/checkpoints/serac/<model>/ in the repository, or an explicit path."""

from __future__ import annotations

from pathlib import Path

from bench.errors import BenchError

CHECKPOINT_FILE = "scope_classifier.safetensors"


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def model_dirname(model_name: str) -> str:
    """A folder name for a model alias, hub id ('org/name' -> 'org--name') or local directory (its name)."""
    path = Path(model_name).expanduser()
    if path.is_dir():
        return path.resolve().name
    return model_name.strip().strip("/").replace("/", "--")


def default_checkpoint_dir(model_name: str) -> Path:
    return repo_root() / "results" / "checkpoints" / "serac" / model_dirname(model_name)


def resolve_checkpoint(explicit: str, model_name: str) -> Path:
    """The classifier file: `explicit` (a file or a folder holding one) or the model's default folder."""
    where = Path(explicit).expanduser() if explicit else default_checkpoint_dir(model_name)
    file = where / CHECKPOINT_FILE if where.is_dir() or not where.suffix else where
    if file.is_file():
        return file
    raise BenchError(
        f"serac: no checkpoint at {file}. Train one with `python -m bench train serac --model {model_name}` "
        f"(writes {default_checkpoint_dir(model_name) / CHECKPOINT_FILE}), or pass serac:checkpoint=PATH "
        "in --editor-args."
    )
