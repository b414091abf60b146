"""Where SERAC checkpoints live, and the published SERAC's checkpoint files.

Location (both SERAC editors): <checkpoint root>/<editor>/<model>/, the root being $BENCH_CHECKPOINT_DIR or else
the checkout's results/checkpoints (bench/checkpoints.py), or an explicit path. A published-SERAC folder holds
  scope.safetensors           the scope classifier (scope.py: the learned map W)
  counterfactual.safetensors  the counterfactual model's LoRA adapter (A/<module>, B/<module>)
  config.json                 SeracInfo: model, encoder, threshold, adapter shape, training settings and progress
  optimizer.safetensors       Adam moments, only so `--resume` continues the run (never committed)
  loss.csv                    the training curve
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from bench import checkpoints
from bench.atomic import atomic_write
from bench.errors import BenchError

SCOPE, COUNTERFACTUAL, INFO, OPTIMIZER = ("scope.safetensors", "counterfactual.safetensors", "config.json",
                                          "optimizer.safetensors")


def repo_root() -> Path:
    return checkpoints.SOURCE_ROOT


def model_dirname(model_name: str) -> str:
    """A folder name for a model alias, hub id ('org/name' -> 'org--name') or local directory (its name)."""
    path = Path(model_name).expanduser()
    if path.is_dir():
        return path.resolve().name
    return checkpoints.model_dir_name(model_name.strip())


def default_checkpoint_dir(model_name: str, editor: str = "serac") -> Path:
    """<checkpoint root>/<editor>/<model> ($BENCH_CHECKPOINT_DIR read now), or a BenchError when there is no root."""
    return checkpoints.editor_root(editor, model_name) / model_dirname(model_name)


def resolve(explicit: str, model_name: str, editor: str, required: str) -> Path:
    """The file `required` of a checkpoint: in `explicit` (the file itself or a folder holding it), or in the
    model's default folder; a BenchError that says how to train or point at one otherwise."""
    where = Path(explicit).expanduser() if explicit else default_checkpoint_dir(model_name, editor)
    file = where / required if where.is_dir() or not where.suffix else where
    if file.is_file():
        return file
    if explicit:
        raise BenchError(
            f"{editor}: no checkpoint at {file} (given as {editor}:checkpoint). Train one with `python -m bench train "
            f"{editor} --model {model_name} --out DIR`, or pass {editor}:checkpoint=PATH for an existing one."
        )
    root = checkpoints.checkpoint_root()
    raise BenchError(
        f"{editor}: no checkpoint at {file} (the checkpoint root is {checkpoints.describe_root(root)}). Train one "
        f"with `python -m bench train {editor} --model {model_name}` (it writes that file), or point at an existing "
        f"one with {editor}:checkpoint=PATH in --editor-args or {checkpoints.ENV}=DIR (the folder holding "
        f"{editor}/<model>/)."
    )


@dataclass
class SeracInfo:
    """config.json of a published-SERAC checkpoint."""

    model: str
    encoder: str
    threshold: float
    parts: str
    rank: int
    alpha: int
    targets: list[str]
    train_data: list[str]
    seed: int
    hyper: dict = field(default_factory=dict)  # the training settings (train.py's TrainConfig)
    steps_done: int = 0
    total_steps: int = 0
    scope_done: bool = False  # the scope classifier is trained (its phase comes first)
    scope_val: dict = field(default_factory=dict)  # held-out accuracy of the scope classifier
    exclusion: dict = field(default_factory=dict)  # bench/data/overlap.Exclusion


def save(directory: Path, info: SeracInfo, scope: dict[str, torch.Tensor] | None = None,
         counterfactual: dict[str, torch.Tensor] | None = None, optimizer: dict[str, torch.Tensor] | None = None
         ) -> None:
    """Write the given parts, each atomically, config.json last (its progress never runs ahead of the tensors)."""
    for name, tensors in ((SCOPE, scope), (COUNTERFACTUAL, counterfactual), (OPTIMIZER, optimizer)):
        if tensors is not None:
            atomic_write(directory / name, lambda p, t=tensors: save_file(
                {k: v.detach().cpu().contiguous() for k, v in t.items()}, str(p)))
    atomic_write(directory / INFO, lambda p: p.write_text(json.dumps(asdict(info), indent=2) + "\n"))


def read_info(directory: Path) -> SeracInfo:
    path = Path(directory) / INFO
    if not path.is_file():
        raise BenchError(f"{directory} is not a SERAC checkpoint: {INFO} is missing")
    return SeracInfo(**json.loads(path.read_text()))


def load_tensors(directory: Path, name: str) -> dict[str, torch.Tensor] | None:
    path = Path(directory) / name
    return load_file(str(path)) if path.is_file() else None
