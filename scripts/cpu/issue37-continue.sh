#!/usr/bin/env bash
# On a CPU: continue one of issue 37's two InstructEd retrainings to its end from its committed state, then run
# the three evaluations bench.paper.analysis.scaling_compare pairs (Tables 2 and 3, the paper suites' scoring).
# Every step resumes, so after a kill the same command goes on; SIGTERM saves the training. One thread, so the
# two scalings run side by side on two cores:
#   bash scripts/cpu/issue37-continue.sh columns &  bash scripts/cpu/issue37-continue.sh rows &
# Both finished on 2026-12-07 and rows became the default (smollm2-135m/); the rows checkpoint folder and its three
# run folders named here are gone (the paper-budget suite's entries hold the same rows, scaling_compare reads them).
set -eu
SCALING=${1:?usage: issue37-continue.sh columns|rows}
case $SCALING in columns|rows) ;; *) echo "unknown scaling '$SCALING'"; exit 2 ;; esac
CKPT=results/checkpoints/instructed/smollm2-135m-$SCALING
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} BENCH_DATA_DIR=${BENCH_DATA_DIR:-../shared/data}
cd "$(dirname "$0")/../.."
trap 'kill -TERM $CHILD 2>/dev/null; wait $CHILD; exit 143' TERM INT
step() { nice python -m bench "$@" & CHILD=$!; wait $CHILD; }
# bench train exits 0 only once the training is finished (130 when stopped first)
step train instructed --model smollm2-135m --device cpu --scaling "$SCALING" --out "$CKPT" --save-every 50 --resume \
  || { echo "$CKPT: training not finished"; exit 1; }
# gold mode on the three datasets first (the rule that picks the default reads only its rows), then + Retrieval
for EDITORS in instructed instructed,instructed-retrieval; do
  ARGS="instructed:checkpoint=$CKPT"
  [ "$EDITORS" = instructed ] || ARGS="$ARGS;instructed-retrieval:checkpoint=$CKPT"
  for DATASET in counterfact zsre mquake-test; do
    LIMIT="--limit 200"; [ "$DATASET" = mquake-test ] && LIMIT=""
    step run --editors "$EDITORS" --dataset "$DATASET" --model smollm2-135m $LIMIT \
      --scoring tf --side-effects off --loc-unrelated 5 \
      --editor-args "$ARGS" \
      --out "results/instructed-scaling/$SCALING-$DATASET" --resume
  done
done
echo "$SCALING: trained and evaluated; next: python -m bench.paper.analysis.scaling_compare"
