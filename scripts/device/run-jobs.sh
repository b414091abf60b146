#!/usr/bin/env bash
# On a lent GPU machine: run a jobs file's `bench` commands side by side before a deadline, packing what they
# reached into $OUT/back.tgz every 20 s, so a call cut short loses little (every bench command stops cleanly on
# SIGTERM and resumes). Needs device/part* from pack.sh (README.md beside this file).
#   LIMIT=540 bash scripts/device/run-jobs.sh scripts/device/JOBS.jobs
# A jobs file has one `python -m bench` command a line (without `python -m bench`; `--device $DEV` is added), and:
#   @pack PATH...   folders to bring back (relative to the repository root)
#   @until N        later commands are stopped at N% of LIMIT (default 100)
#   @wait           wait for every command started so far
#   @trained DIR    skip the commands up to the next @trained/@wait unless DIR's InstructEd training is finished
# Environment: LIMIT (s, default 540), OUT (/tmp/out), DEV (cuda), PARALLEL (most commands at once, 12),
# CARRIED=0 to use the installed packages instead of the carried ones (a test of this script on the CPU).
set -u
JOBS=$1; T0=$(date +%s); el() { echo $(( $(date +%s) - T0 )); }
LIMIT=${LIMIT:-540}; OUT=${OUT:-/tmp/out}; DEV=${DEV:-cuda}; PARALLEL=${PARALLEL:-12}
mkdir -p "$OUT" /tmp/pay /tmp/jobs; exec > >(tee -a "$OUT/log.txt") 2>&1
echo "start $(date -u +%FT%TZ) $JOBS limit=$LIMIT s device=$DEV"
cat device/part* | tar -C /tmp/pay -xf - || { echo "payload incomplete: $(ls device)"; exit 1; }
tar -C /tmp/pay -xJf /tmp/pay/data.tar.xz || exit 1
[ "${CARRIED:-1}" = 0 ] || python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site /tmp/pay/site/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 BENCH_CACHE_DIR=/tmp/cache BENCH_DATA_DIR=/tmp/pay/data \
    BENCH_WHEEL_DIR=/tmp/pay/wheels
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU')" || exit 1
python3 -c "from bench.models import model_path; model_path('smollm2-135m')" || exit 1  # convert once, for all
PACK=(); PIDS=(); UNTIL=100; SKIP=0; N=0
pack() { [ ${#PACK[@]} -gt 0 ] && tar -czf "$OUT/back.tmp" $(ls -d "${PACK[@]}" 2>/dev/null) && mv "$OUT/back.tmp" "$OUT/back.tgz"; }
trained() { python3 -c "import sys; from editors.instructed.checkpoint import read_info; i = read_info('$1'); sys.exit(i.epochs_done < i.hyper['epochs'])" 2>/dev/null; }
PACKER=""
while read -r line; do
  case "$line" in
    ''|'#'*) continue ;;
    @pack*) read -ra PACK <<< "${line#@pack}"; ( while true; do sleep 20; pack; done ) & PACKER=$! ;;
    @until*) UNTIL=${line#@until } ;;
    @wait) [ ${#PIDS[@]} -gt 0 ] && wait "${PIDS[@]}"; PIDS=(); SKIP=0; echo "-- all done at $(el) s" ;;
    @trained*) DIR=${line#@trained }; if trained "$DIR"; then SKIP=0; else SKIP=1; echo "-- $DIR not trained: skipping its commands"; fi ;;
    *) [ $SKIP = 1 ] && continue
       while [ "$(jobs -rp | wc -l)" -gt "$PARALLEL" ]; do sleep 2; done  # the packer is one of them
       LEFT=$(( LIMIT * UNTIL / 100 - $(el) )); [ $LEFT -gt 30 ] || { echo "-- no time for: $line"; continue; }
       N=$((N + 1)); echo "-- [$N] at $(el) s, $LEFT s: $line"
       ( timeout -s TERM -k 30 $LEFT python3 -m bench $line --device $DEV < /dev/null > /tmp/jobs/$N.log 2>&1
         echo "-- [$N] exited $? at $(el) s: $(tail -c 300 /tmp/jobs/$N.log | tr '\r' '\n' | grep -v '^\s*$' | tail -1)" ) &
       PIDS+=($!) ;;
  esac
done < "$JOBS"
[ ${#PIDS[@]} -gt 0 ] && wait "${PIDS[@]}"; [ -n "$PACKER" ] && kill $PACKER 2>/dev/null; pack
tar -czf "$OUT/logs.tgz" -C /tmp jobs; ls -la "$OUT"; echo "done at $(el) s"
