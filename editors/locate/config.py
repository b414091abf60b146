"""Typed hyper-parameters of the locate-and-edit methods, resolved from one JSON file per (method, model).

Every field defaults to None, meaning "take it from the hyper-parameter file";
a value given on the command line (`--editor-args rome:layers=5`) wins over the
file. `hparams=auto` picks `<method>/hparams/<model>.json`; a path picks that
file. Module names never appear in these files: sites come from bench/arch.py.
For a model without a file, the llama-2-7b file is used with its layers scaled
by depth (layer l of 32 -> round(l * n / 32)), and describe() says so.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, fields, replace
from pathlib import Path

from bench.arch import num_layers
from bench.errors import BenchError
from bench.models import LoadedModel
from editors.base import EditorConfig

MODEL_ALIASES = {
    "gpt2-xl": "gpt2-xl", "openai-community/gpt2-xl": "gpt2-xl",
    "meta-llama/llama-2-7b-hf": "llama-2-7b", "llama-2-7b-hf": "llama-2-7b", "llama-2-7b": "llama-2-7b",
    "google/gemma-3-270m": "gemma3-270m", "gemma-3-270m": "gemma3-270m",
    "huggingfacetb/smollm2-135m-instruct": "smollm2-135m", "huggingfacetb/smollm2-135m": "smollm2-135m",
}
REFERENCE_MODEL, REFERENCE_DEPTH = "llama-2-7b", 32


@dataclass
class LocateConfig(EditorConfig):
    hparams: str = "auto"  # "auto" = hparams/<model>.json of the method, or a path to a JSON file
    layers: list[int] | None = None  # edited layers (ROME: one)
    v_num_grad_steps: int | None = None
    v_lr: float | None = None
    v_weight_decay: float | None = None
    kl_factor: float | None = None
    clamp_norm_factor: float | None = None
    context_lengths: list[int] | None = None  # token lengths of the sampled context prefixes
    contexts_per_length: int | None = None
    mom2_adjustment: bool | None = None  # false: C = I (no statistics needed)
    stats_corpus: str | None = None  # model | prompts[:SPEC+SPEC] | wikipedia
    stats_samples: int | None = None  # token vectors in the second-moment statistics
    stats_dtype: str | None = None
    seed: int | None = None  # context prefixes and corpus sampling; default: the run's --seed
    value_chunk: int | None = None  # requests whose target values are optimised jointly


def hparams_file(method_dir: Path, lm: LoadedModel, choice: str) -> tuple[Path, bool]:
    """The file to read and whether its layers must be scaled to this model's depth."""
    if choice != "auto":
        path = Path(choice)
        if not path.exists():
            raise BenchError(f"hyper-parameter file {choice} does not exist")
        return path, False
    name = str(lm.name).rstrip("/").lower()
    key = MODEL_ALIASES.get(name, name.rsplit("/", 1)[-1])
    path = method_dir / "hparams" / f"{key}.json"
    if path.exists():
        return path, False
    return method_dir / "hparams" / f"{REFERENCE_MODEL}.json", True


def resolve_config(config: LocateConfig, method_dir: Path, lm: LoadedModel) -> tuple[LocateConfig, str]:
    """Fill the config's None fields from the hyper-parameter file; return it and a note on its source."""
    path, scale = hparams_file(method_dir, lm, config.hparams)
    values = {k: v for k, v in json.loads(path.read_text()).items() if not k.startswith("_")}
    known = {f.name for f in fields(config)}
    unknown = set(values) - known
    if unknown:
        raise BenchError(f"{path}: unknown hyper-parameter(s) {', '.join(sorted(unknown))}; known: "
                         f"{', '.join(sorted(known))}")
    source = str(path)
    if scale:
        depth = num_layers(lm.model)
        values["layers"] = sorted({min(depth - 1, round(x * depth / REFERENCE_DEPTH)) for x in values["layers"]})
        source = f"{path} with layers scaled by depth ({depth}/{REFERENCE_DEPTH}); no file for '{lm.name}'"
        print(f"[{method_dir.name}] {source}", file=sys.stderr)
    merged = {k: v for k, v in values.items() if getattr(config, k) is None}
    resolved = replace(config, **merged)
    missing = [f.name for f in fields(resolved) if getattr(resolved, f.name) is None]
    if missing:
        raise BenchError(f"{path}: missing hyper-parameter(s) {', '.join(missing)}")
    depth = num_layers(lm.model)
    if not resolved.layers or any(not 0 <= x < depth for x in resolved.layers):
        raise BenchError(f"layers={resolved.layers} is not a non-empty list of layers of this {depth}-layer model")
    if resolved.v_num_grad_steps < 1:
        raise BenchError("v_num_grad_steps must be at least 1")
    return resolved, source
