"""InstructEd checkpoints: the trained tensors alone (safetensors) plus a JSON description.

Layout of a checkpoint directory:
  prefix.safetensors     the PrefixBank tensors (prefix.<layer> or down.<layer>/up.<layer>)
  config.json            CheckpointInfo: model, shapes, encoder, training data, seed, hyper-parameters
  trained_cases.json     the records trained on (editors/instructed/trained_cases.py)
  optimizer.safetensors  AdamW moments, so `--resume-from` continues the same run
  loss.png / loss.csv    the training curve
Default location: <checkpoint root>/instructed/<model>/ (ablations in a tagged subfolder), the root being
$BENCH_CHECKPOINT_DIR or else the checkout's results/checkpoints (bench/checkpoints.py).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from bench import checkpoints
from bench.atomic import atomic_write
from bench.checkpoints import model_dir_name
from bench.errors import BenchError
from editors.instructed.trained_cases import TrainedCases

REPO_ROOT = checkpoints.SOURCE_ROOT
CHECKPOINT_ROOT = checkpoints.CHECKOUT_ROOT / "instructed"  # the checkout's default; root() is the one in use
WEIGHTS, INFO, TRAINED, OPTIMIZER = "prefix.safetensors", "config.json", "trained_cases.json", "optimizer.safetensors"
# How Eq. 15 applies the similarity: to the key columns of the prefixes and instruction (the paper's text) or to
# the query rows (the authors' modeling_llama.py:420,431). Rows since 2026-12-07: the paired comparison at the
# paper's budget, with its rule fixed before the runs ended, picked them (results/instructed-scaling/README.md).
SCALINGS = ("columns", "rows")
DEFAULT_SCALING = "rows"


def scaling_of(compat: str) -> str:
    """The scaling a checkpoint or run recorded before `scaling` was written used: the one its compat trained."""
    return "rows" if compat == "paper" else "columns"


def compat_of(scaling: str) -> str:
    """The compat a checkpoint records for its scaling, so that readers from before `scaling` infer it right."""
    return "paper" if scaling == "rows" else "strict"


@dataclass
class CheckpointInfo:
    model: str
    model_type: str
    hidden_size: int
    num_layers: int
    layers: list[int]
    n_prefix: int
    variant: str
    reweight: bool
    compat: str
    encoder: str
    train_data: list[str]
    seed: int
    epochs_done: int = 0
    steps_done: int = 0
    hyper: dict = field(default_factory=dict)  # recipe, lr, betas, weight decay, batch, warm-up, epochs, ...
    n_examples: int = 0
    batches_done: int = 0  # batches of epoch `epochs_done` + 1 already trained (a save in the middle of an epoch)
    sink_kept: bool = False  # the attention sink (token 0 of a BOS-less tokenizer) stays out of Eq. 15's span;
    # False: trained before that fix (the sink was scaled), so the editor evaluates it that way
    exclusion: dict = field(default_factory=dict)  # overlap.Exclusion: eval-set records removed from the data
    scaling: str = ""  # columns or rows (SCALINGS); written since 2026-12-06, before that implied by compat

    def __post_init__(self):
        self.scaling = self.scaling or scaling_of(self.compat)


def ablation_tag(layers: list[int], default_layers: list[int], n_prefix: int, variant: str, reweight: bool,
                 scaling: str = DEFAULT_SCALING) -> str:
    """'' for the default configuration; otherwise a folder name naming what differs (`columns`: Eq. 15 on key
    columns, the paper's text)."""
    parts = [] if variant == "attn" else [variant]
    if list(layers) != list(default_layers):
        contiguous = list(layers) == list(range(layers[0], layers[-1] + 1)) if layers else False
        parts.append(f"l{layers[0]}-{layers[-1] + 1}" if contiguous else "l" + "_".join(map(str, layers)))
    if n_prefix != 5:
        parts.append(f"p{n_prefix}")
    if not reweight:
        parts.append("noreweight")
    if scaling != DEFAULT_SCALING:
        parts.append(scaling)
    return "-".join(parts)


def root(model: str) -> Path:
    """<checkpoint root>/instructed ($BENCH_CHECKPOINT_DIR read now), or a BenchError when there is none."""
    return checkpoints.editor_root("instructed", model)


def default_dir(model: str, tag: str = "") -> Path:
    base = root(model) / model_dir_name(model)
    return base / tag if tag else base


def save(directory: Path, tensors: dict[str, torch.Tensor], info: CheckpointInfo, trained: TrainedCases,
         optimizer: dict[str, torch.Tensor] | None = None) -> None:
    """Each file is written to a temporary name and renamed, config.json last, so a kill at any point leaves
    the previous save's config (its step count) valid for tensors at least as new as it says."""
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write(directory / WEIGHTS, lambda p: save_file(
        {k: v.detach().float().cpu().contiguous() for k, v in tensors.items()}, str(p)))
    if optimizer is not None:
        atomic_write(directory / OPTIMIZER, lambda p: save_file(
            {k: v.detach().cpu().contiguous() for k, v in optimizer.items()}, str(p)))
    atomic_write(directory / TRAINED, lambda p: p.write_text(json.dumps(trained.to_json()) + "\n"))
    atomic_write(directory / INFO, lambda p: p.write_text(json.dumps(asdict(info), indent=2) + "\n"))


def _require(directory: Path, names: tuple[str, ...]) -> None:
    for name in names:
        if not (directory / name).is_file():
            raise BenchError(f"{directory} is not an InstructEd checkpoint: {name} is missing")


def read_info(directory: Path) -> CheckpointInfo:
    """The checkpoint's config.json alone (no tensors)."""
    directory = Path(directory)
    _require(directory, (WEIGHTS, INFO))
    return CheckpointInfo(**json.loads((directory / INFO).read_text()))


def load(directory: Path) -> tuple[dict[str, torch.Tensor], CheckpointInfo, TrainedCases]:
    directory = Path(directory)
    info = read_info(directory)
    trained = TrainedCases.from_json(json.loads(trained_cases_path(directory).read_text()))
    return load_file(str(directory / WEIGHTS)), info, trained


def trained_cases_path(directory: Path) -> Path:
    """The checkpoint's trained_cases.json; a checkpoint in a subfolder that trained on the very records of the
    checkpoint above it (the same `exclusion` in both config.json files: Table 4's set) may share that one's."""
    own, shared = directory / TRAINED, directory.parent / TRAINED
    if own.is_file():
        return own
    if shared.is_file() and (directory.parent / INFO).is_file():
        mine = json.loads((directory / INFO).read_text()).get("exclusion")
        if mine is not None and mine == json.loads((directory.parent / INFO).read_text()).get("exclusion"):
            return shared
    _require(directory, (TRAINED,))
    return own


def load_optimizer(directory: Path) -> dict[str, torch.Tensor] | None:
    path = Path(directory) / OPTIMIZER
    return load_file(str(path)) if path.is_file() else None


def train_command(model: str, layers: list[int], default_layers: list[int], n_prefix: int, variant: str,
                  reweight: bool, scaling: str = DEFAULT_SCALING) -> str:
    """The exact command that trains the checkpoint discovery looks for."""
    parts = [f"python -m bench train instructed --model {model}"]
    if list(layers) != list(default_layers):
        parts.append(f"--layers {','.join(map(str, layers))}")
    if n_prefix != 5:
        parts.append(f"--n-prefix {n_prefix}")
    if variant != "attn":
        parts.append(f"--variant {variant}")
    if not reweight:
        parts.append("--reweight off")
    if scaling != DEFAULT_SCALING:
        parts.append(f"--scaling {scaling}")
    return " ".join(parts)


def discover(model: str, layers: list[int], default_layers: list[int], n_prefix: int, variant: str,
             reweight: bool, scaling: str = "auto") -> Path:
    """The checkpoint folder for these settings, or a BenchError that says how to make it. A scaling other than
    the default, asked for by name, looks in its tagged folder (Table 4's `columns/`), else evaluates the settings'
    own checkpoint with it (the editor warns that it trained the other)."""
    wanted = DEFAULT_SCALING if scaling == "auto" else scaling
    directory = default_dir(model, ablation_tag(layers, default_layers, n_prefix, variant, reweight, wanted))
    if (directory / WEIGHTS).is_file():
        return directory
    own = default_dir(model, ablation_tag(layers, default_layers, n_prefix, variant, reweight))
    if (own / WEIGHTS).is_file():
        return own
    command = train_command(model, layers, default_layers, n_prefix, variant, reweight, wanted)
    emptied = next((d for d in (directory, own) if (d / INFO).is_file()), None)
    kept = (f"{emptied} keeps a checkpoint's {INFO} without its weights ({WEIGHTS}, left out of the tree for size): "
            f"the README or ABLATIONS.md above it says how to get them back. ") if emptied else ""
    raise BenchError(
        f"{kept}InstructEd has no trained checkpoint for model '{model}' with these settings (looked in {directory}; "
        f"the checkpoint root is {checkpoints.describe_root(root(model).parent)}). "
        f"Train one with:  {command}  (it writes to that folder; add --device cuda on a GPU), "
        f"or point at an existing one with --editor-args 'instructed:checkpoint=PATH' "
        f"or {checkpoints.ENV}=DIR (the folder holding instructed/<model>/)."
    )
