"""The checkpoint root: the folder that holds each trained editor's checkpoints (`instructed/`, `serac/`,
`serac-icl/`).

$BENCH_CHECKPOINT_DIR when set; otherwise the committed `results/checkpoints` of the checkout the packages run
from (found next to them, so absent from a wheel install); otherwise there is none, and an editor that needs a
checkpoint says how to make one or point at one. Read at call time, so the variable may change in a process.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.errors import BenchError

ENV = "BENCH_CHECKPOINT_DIR"
SOURCE_ROOT = Path(__file__).resolve().parents[1]  # the checkout (for a wheel install: its site-packages)
CHECKOUT_ROOT = SOURCE_ROOT / "results" / "checkpoints"


def model_dir_name(model: str) -> str:
    """The folder name of a model under an editor's checkpoint folder ('org/model' -> 'org--model')."""
    return model.strip("/").replace("/", "--")


def checkpoint_root() -> Path | None:
    """$BENCH_CHECKPOINT_DIR, else the checkout's results/checkpoints when it exists, else None."""
    value = os.environ.get(ENV, "").strip()
    if value:
        return Path(value).expanduser()
    return CHECKOUT_ROOT if CHECKOUT_ROOT.is_dir() else None


def describe_root(root: Path) -> str:
    """Where `root` came from, for messages."""
    if os.environ.get(ENV, "").strip():
        return f"{root}, from ${ENV}"
    return f"{root}, the checkout's default; set ${ENV} to use another"


def editor_root(editor: str, model: str) -> Path:
    """<checkpoint root>/<editor>, or a BenchError saying how to train or point at a checkpoint."""
    root = checkpoint_root()
    if root is not None:
        return root / editor
    raise BenchError(
        f"{editor}: there is no checkpoint folder to look in: ${ENV} is not set and there is no results/checkpoints "
        f"folder next to the installed packages (looked for {CHECKOUT_ROOT}; a wheel install has none). Set {ENV} "
        f"to the folder that holds {editor}/<model>/ (for example a checkout's results/checkpoints); training "
        f"writes there too (`{ENV}=DIR python -m bench train {editor} --model {model}`, or give --out DIR), "
        f"or point at one checkpoint with --editor-args '{editor}:checkpoint=PATH'."
    )
