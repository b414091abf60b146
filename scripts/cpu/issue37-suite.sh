#!/usr/bin/env bash
# On a CPU: entries of the instructed-paper-budget suite (every InstructEd row of Tables 2, 3, 4, 9, 10 and 12)
# with the rows default installed (issue 37), into results/suite-smollm2-instructed-rows/, which replaces
# suite-smollm2-instructed-paper-budget/ once every entry is done. Resumes after a kill (bench suite does).
#   bash scripts/cpu/issue37-suite.sh ENTRY[,ENTRY...]      (names: python -m bench suite --name instructed-paper-budget --dry-run)
# It refuses (exit 3) until the default checkpoint trained rows, and Table 4's entries until its 1-epoch set is
# installed beside it (all five subfolders), so that no row is scored with the checkpoints they replace.
set -eu
ENTRIES=${1:?usage: issue37-suite.sh ENTRY[,ENTRY...]}
CKPT=results/checkpoints/instructed/smollm2-135m
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} BENCH_DATA_DIR=${BENCH_DATA_DIR:-../shared/data}
cd "$(dirname "$0")/../.."
grep -q '"scaling": "rows"' "$CKPT/config.json" \
  || { echo "$CKPT is not the rows checkpoint yet: install it first (results/instructed-scaling/README.md)"; exit 3; }
case $ENTRIES in *ablations*)
  for NAME in control columns noreweight l19-28 ffn; do
    [ -f "$CKPT/$NAME/prefix.safetensors" ] || { echo "$CKPT/$NAME is missing: install Table 4's set first"; exit 3; }
  done ;;
esac
trap 'kill -TERM $CHILD 2>/dev/null; wait $CHILD; exit 143' TERM INT
nice python -m bench suite --name instructed-paper-budget --limit 200 --out results/suite-smollm2-instructed-rows \
  --only "$ENTRIES" & CHILD=$!
wait $CHILD
