#!/usr/bin/env bash
# On a CPU: retrain one of Table 4's 1-epoch checkpoints (results/checkpoints/instructed/smollm2-135m/ABLATIONS.md)
# on the records the overlap filter across roles keeps (issue 37), into smollm2-135m-ablations-1ep/NAME, from where
# it is moved into smollm2-135m/NAME (all five were, on 2026-12-07). Resumes after a kill; SIGTERM saves.
#   bash scripts/cpu/issue37-ablation.sh control|columns|noreweight|l19-28|ffn
# Row scaling (`--compat paper`) won scaling_compare's rule on 2026-12-07, so the control and every ablation train
# rows, and `columns` (the paper's text) is the ablation of that choice; the former `paper/` (rows, 1 epoch) is the
# control itself now.
# ffn's optimizer state (6.6 MB) is not committed: it trains in the git-ignored runs/ and is copied, without that
# state, when it finishes, so a sitting that ends first starts it again next time.
set -eu
NAME=${1:?usage: issue37-ablation.sh control|columns|noreweight|l19-28|ffn}
case $NAME in
  control) FLAGS="--compat paper" ;; columns) FLAGS="--compat strict" ;; noreweight) FLAGS="--reweight off --compat paper" ;;
  l19-28) FLAGS="--layers late --compat paper" ;; ffn) FLAGS="--variant ffn --compat paper" ;;
  *) echo "unknown ablation '$NAME'"; exit 2 ;;
esac
OUT=results/checkpoints/instructed/smollm2-135m-ablations-1ep/$NAME
WORK=$OUT; [ "$NAME" = ffn ] && WORK=runs/ablations-1ep/ffn
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} BENCH_DATA_DIR=${BENCH_DATA_DIR:-../shared/data}
cd "$(dirname "$0")/../.."
trap 'kill -TERM $CHILD 2>/dev/null; wait $CHILD; exit 143' TERM INT
# bench train exits 0 only once the training is finished (130 when stopped first)
# shellcheck disable=SC2086
nice python -m bench train instructed --model smollm2-135m --device cpu --epochs 1 $FLAGS --out "$WORK" \
  --save-every 50 --resume & CHILD=$!
wait $CHILD || { echo "$WORK: training not finished"; exit 1; }
mkdir -p "$OUT"
[ "$WORK" != "$OUT" ] && cp "$WORK"/{prefix.safetensors,loss.csv,loss.png,trained_cases.json,config.json} "$OUT"/
rm -f "$OUT/optimizer.safetensors"  # it only resumes a finished training
gzip -9f "$OUT/loss.csv"
touch "$OUT/config.json"  # newer than the tensors: the queue commits a training folder only between two saves
echo "$NAME: trained into $OUT"
