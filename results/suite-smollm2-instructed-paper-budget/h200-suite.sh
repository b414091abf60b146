#!/bin/bash
# On a lent H200 (commit 561cf00, 2026-12-04): the `instructed-paper-budget` suite (every InstructEd row of Tables 2, 3, 4, 9, 10
# and 12 at 200 cases, with the paper-budget checkpoint and Table 4's 1-epoch set), one process per suite entry
# side by side, float32 on cuda. The payload (the two pinned model/encoder wheels for $BENCH_WHEEL_DIR, the
# shared data, transformers 5.25 and the project's own wheel for its entry points) arrives in parts under $DC.
# Every run is resumable: at LIMIT s the processes get SIGTERM, and a loop packs /tmp/suite into $OUT every 20 s,
# so whatever was reached comes back.
set -u
T0=$(date +%s); el() { echo $(( $(date +%s) - T0 )); }
LIMIT=${LIMIT:-480}; DC=${DC:-/tmp/dc}; OUT=${OUT:-/tmp/out}; REPO=$PWD; S=/tmp/suite
mkdir -p "$OUT" /tmp/pay "$S"
exec > >(tee -a "$OUT/log.txt") 2>&1
echo "start $(date -u +%FT%TZ) limit=$LIMIT"
cat "$DC"/part* | tar -C /tmp/pay -xf - || { echo "payload incomplete"; ls -la "$DC"; exit 1; }
tar -C /tmp/pay -xJf /tmp/pay/data.tar.xz || exit 1
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site /tmp/pay/whl2/*.whl || exit 1
export PYTHONPATH=$REPO:/tmp/site PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 BENCH_CACHE_DIR=/tmp/cache \
  BENCH_DATA_DIR=/tmp/pay/data BENCH_WHEEL_DIR=/tmp/pay/wheels BENCH_CHECKPOINT_DIR=$REPO/results/checkpoints
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__, torch.cuda.get_device_name(0))"
python3 - <<'PY' || exit 1
# build both caches once (through bench.offline, pins checked) before the processes start
from bench.encoder import encoder_path
from bench.models import load_model
from bench.registry import catalogue
print("editors:", len(catalogue().editors), "encoder:", encoder_path("all-MiniLM-L6-v2"))
print("model:", load_model("smollm2-135m", device="cuda").model.device)
PY
echo "setup done at $(el) s"
( while true; do tar -C /tmp -czf "$OUT/suite.tmp" suite 2>/dev/null && mv "$OUT/suite.tmp" "$OUT/suite.tgz"; sleep 20; done ) &
PACK=$!
PIDS=()
for e in counterfact zsre mquake-test counterfact-ablations zsre-ablations zsre-inverse zsre-subject-replace \
         counterfact-subject-replace counterfact-sequential zsre-sequential; do
  ( timeout -s TERM -k 20 $(( LIMIT - $(el) )) python3 -m bench suite --name instructed-paper-budget --limit 200 \
      --out "$S" --only "$e" --device cuda > "$S/log-$e.txt" 2>&1; echo "$e exited $? at $(el) s" ) & PIDS+=($!)
done
sleep 30; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
wait "${PIDS[@]}"
kill $PACK 2>/dev/null; sleep 1
tar -C /tmp -czf "$OUT/suite.tgz" suite && rm -f "$OUT/suite.tmp"; ls -la "$OUT"; echo "done at $(el) s"
