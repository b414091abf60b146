#!/usr/bin/env bash
# On a lent GPU machine (issue 37): continue InstructEd's two 10-epoch retrainings (columns, rows) from the state
# committed in results/checkpoints/instructed/smollm2-135m-{columns,rows}/, side by side, then evaluate each
# finished one on Tables 2 and 3 (scaling_compare's runs) while time is left. Every process saves when stopped;
# what was reached is packed into $OUT/back.tgz every 20 s, so a call cut short loses little. Unpack it here at the
# repository root (tar -xzf back.tgz) and commit. Needs device/part* from pack.sh (README.md beside this file).
set -u
T0=$(date +%s); el() { echo $(( $(date +%s) - T0 )); }
LIMIT=${LIMIT:-540}; OUT=${OUT:-/tmp/out}; TRAIN_SHARE=${TRAIN_SHARE:-75}; DEV=${DEV:-cuda}
mkdir -p "$OUT" /tmp/pay; exec > >(tee -a "$OUT/log.txt") 2>&1
echo "start $(date -u +%FT%TZ) limit=$LIMIT s"
cat device/part* | tar -C /tmp/pay -xf - || { echo "payload incomplete: $(ls device)"; exit 1; }
tar -C /tmp/pay -xJf /tmp/pay/data.tar.xz || exit 1
# CARRIED=0 keeps the packages already installed (a test of this script on a machine that has the project's)
[ "${CARRIED:-1}" = 0 ] || python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site /tmp/pay/site/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 BENCH_CACHE_DIR=/tmp/cache BENCH_DATA_DIR=/tmp/pay/data \
    BENCH_WHEEL_DIR=/tmp/pay/wheels
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU')" || exit 1
CK=results/checkpoints/instructed; RUNS=results/instructed-scaling; SCALINGS="columns rows"
pack() { tar -czf "$OUT/back.tmp" $CK/smollm2-135m-columns $CK/smollm2-135m-rows $(ls -d $RUNS 2>/dev/null) && mv "$OUT/back.tmp" "$OUT/back.tgz"; }
( while true; do sleep 20; pack; done ) & PACKER=$!
flags() { [ "$1" = rows ] && echo "--compat paper"; }
PIDS=()
for s in $SCALINGS; do
  timeout -s TERM -k 30 $(( LIMIT * TRAIN_SHARE / 100 - $(el) )) python3 -m bench train instructed --model smollm2-135m \
      --device $DEV --out $CK/smollm2-135m-$s --save-every 200 --resume $(flags $s) > /tmp/train-$s.log 2>&1 & PIDS+=($!)
  sleep 20  # the first converts the model (the cache's lock serialises it anyway)
done
wait "${PIDS[@]}"
for s in $SCALINGS; do echo "$s: $(tail -c 400 /tmp/train-$s.log | tr '\r' '\n' | tail -2) ($(el) s)"; done
done_epochs() { python3 -c "import json; print(json.load(open('$CK/smollm2-135m-$1/config.json'))['epochs_done'])"; }
PIDS=()
for s in $SCALINGS; do
  [ "$(done_epochs $s)" = 10 ] || { echo "$s not finished: not evaluated"; continue; }
  ARGS="instructed:checkpoint=$CK/smollm2-135m-$s;instructed-retrieval:checkpoint=$CK/smollm2-135m-$s"
  for d in counterfact zsre mquake-test; do
    LIM=""; [ $d = mquake-test ] || LIM="--limit 200"
    timeout -s TERM -k 20 $(( LIMIT - 25 - $(el) )) python3 -m bench run --editors instructed,instructed-retrieval \
        --dataset $d --model smollm2-135m $LIM --device $DEV --scoring tf --side-effects off --loc-unrelated 5 \
        --editor-args "$ARGS" --out $RUNS/$s-$d --resume > /tmp/run-$s-$d.log 2>&1 & PIDS+=($!)
  done
done
[ ${#PIDS[@]} -gt 0 ] && wait "${PIDS[@]}"
for f in /tmp/run-*.log; do [ -f "$f" ] && echo "$f: $(tail -c 300 "$f" | tr '\r' '\n' | tail -1)"; done
kill $PACKER 2>/dev/null; pack; cp /tmp/train-*.log "$OUT/" 2>/dev/null; ls -la "$OUT"; echo "done at $(el) s"
