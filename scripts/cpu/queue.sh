#!/usr/bin/env bash
# Work through a queue of resumable commands on this CPU, SLOTS at a time (one thread each), across sittings of a
# machine that does not persist: every COMMIT_EVERY seconds it pauses the commands, stages the folders the queue
# names (a run's git-ignored cases.jsonl packed as cases.jsonl.xz, a training's folder only between two of its
# saves), resumes them and commits. A finished line goes into QUEUE.done, so the same command continues next time.
#   bash scripts/cpu/queue.sh scripts/cpu/QUEUE.queue      (SIGTERM: stop the commands, commit, exit)
# A queue file has one shell command a line, run from the repository root (the folder a line's `--out` names is
# committed until the line is done), and:
#   @pack GLOB...   other folders to commit (relative to the repository root; globs allowed)
# Commands must resume from what a commit kept (`bench run --resume`, `bench train --resume`, the scripts here);
# before a line starts, a run folder holding only cases.jsonl.xz gets its cases.jsonl back, and once the queue stops
# or ends, a cases.jsonl equal to its .xz is removed again.
# Environment: SLOTS (2), COMMIT_EVERY (s, 2100), OMP_NUM_THREADS (1), BENCH_DATA_DIR (../shared/data),
# BENCH_STATE_DIR (.states: sequential runs' saved states, git-ignored and outside results/, kept while the machine is).
set -u
QUEUE=$1; DONE=$QUEUE.done; SLOTS=${SLOTS:-2}; COMMIT_EVERY=${COMMIT_EVERY:-2100}
cd "$(dirname "$0")/../.." || exit 1
[ -z "${VIRTUAL_ENV:-}" ] && [ -f .venv/bin/activate ] && . .venv/bin/activate  # the README's environment
python -c "import torch, bench" || { echo "no environment with torch and bench: set up as the README says"; exit 1; }
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} BENCH_DATA_DIR=${BENCH_DATA_DIR:-../shared/data} PYTHONUNBUFFERED=1
export BENCH_STATE_DIR=${BENCH_STATE_DIR:-$PWD/.states}
mkdir -p logs/queue; touch "$DONE"
PACK=(); LINES=()
while read -r line; do
  case "$line" in ''|'#'*) ;; @pack*) read -ra more <<< "${line#@pack}"; PACK+=("${more[@]}") ;; *) LINES+=("$line")
    # a line still to run commits the folder its `--out` names
    grep -qxF -- "$line" "$DONE" || { [[ $line =~ --out[[:space:]]+([^[:space:]]+) ]] && PACK+=("${BASH_REMATCH[1]}"); } ;;
  esac
done < "$QUEUE"
declare -A RUNNING=() STARTED=() FAILED=()  # pgid -> line, start time; line -> exit status
log() { echo "$(date -u +%H:%M:%S) $*"; }

unpack_runs() { for d in $(ls -d ${PACK[@]} 2>/dev/null); do
  [ -f "$d/cases.jsonl.xz" ] && [ ! -f "$d/cases.jsonl" ] && xz -dk "$d/cases.jsonl.xz" && log "unpacked $d/cases.jsonl"
done; }

# Stage every named folder with its commands paused; a training folder with changes only when config.json is newer
# than its tensors (its save finished), retried with the commands running in between.
stage() {
  local tries d ok
  for tries in 1 2 3 4 5 6 7 8 9 10; do
    for g in "${!RUNNING[@]}"; do kill -STOP -- -"$g" 2>/dev/null; done
    ok=1
    for d in $(ls -d ${PACK[@]} 2>/dev/null); do
      [ -z "$(git status --porcelain -- "$d")" ] && continue  # as committed: a fresh checkout's file times mean nothing
      for t in "$d"/*.safetensors; do [ -f "$t" ] && [ "$t" -nt "$d/config.json" ] && ok=0; done
    done
    if [ $ok = 1 ]; then
      for d in $(ls -d ${PACK[@]} 2>/dev/null); do
        [ "$d/cases.jsonl" -nt "$d/cases.jsonl.xz" ] && xz -9e -T1 -c "$d/cases.jsonl" > "$d/cases.jsonl.xz"
        git check-ignore -q "$d" || git add "$d"  # a glob may name an ignored file (a run page)
      done
    fi
    for g in "${!RUNNING[@]}"; do kill -CONT -- -"$g" 2>/dev/null; done
    [ $ok = 1 ] && return 0; sleep 2
  done
  log "a training was saving at every try: nothing staged"; return 1
}

# After the last commit: an unpacked cases.jsonl equal to its committed .xz goes (the next start unpacks it again),
# so results/ on disk holds what git holds.
drop_unpacked() { for d in $(ls -d ${PACK[@]} 2>/dev/null); do
  [ -f "$d/cases.jsonl" ] && [ -f "$d/cases.jsonl.xz" ] && xz -dc "$d/cases.jsonl.xz" | cmp -s - "$d/cases.jsonl" \
    && rm "$d/cases.jsonl"
done; return 0; }

snapshot() {
  stage && git add "$DONE" && ! git diff --cached --quiet && git commit -q -m "$(basename "$QUEUE"): work so far at $(date -u +%H:%M) UTC ($*)" \
    && log "committed: $*"
}

start_next() {
  local line
  for line in "${LINES[@]}"; do
    grep -qxF -- "$line" "$DONE" && continue
    [ -n "${FAILED[$line]:-}" ] && continue
    printf '%s\n' "${RUNNING[@]}" | grep -qxF -- "$line" && continue
    local n=$(( $(ls logs/queue | sed -n 's/^\([0-9]*\)\.log$/\1/p' | sort -n | tail -1) + 1 ))
    : > "logs/queue/$n.log"  # taken before the next start counts
    setsid bash -c "$line" < /dev/null >> "logs/queue/$n.log" 2>&1 &
    RUNNING[$!]=$line; STARTED[$!]=$(date +%s); log "started [$n] $line"; return 0
  done
  return 1
}

stop_all() {
  log "stopping"; for g in "${!RUNNING[@]}"; do kill -TERM -- -"$g" 2>/dev/null; done
  wait; snapshot "stopped"; drop_unpacked; exit 0
}
trap stop_all TERM INT

unpack_runs
LAST=$(date +%s)
while true; do
  while [ ${#RUNNING[@]} -lt "$SLOTS" ] && start_next; do :; done
  [ ${#RUNNING[@]} = 0 ] && { snapshot "queue ended"; drop_unpacked; log "queue ended (${#FAILED[@]} failed)"; exit 0; }
  sleep 10 & wait $!
  for g in "${!RUNNING[@]}"; do
    kill -0 "$g" 2>/dev/null && continue
    wait "$g"; rc=$?
    if [ $rc = 0 ]; then printf '%s\n' "${RUNNING[$g]}" >> "$DONE"; log "finished: ${RUNNING[$g]}"
    else log "exit $rc (left undone; see logs/queue): ${RUNNING[$g]}"; FAILED[${RUNNING[$g]}]=$rc
      # a failure within a minute is the set-up's, not the line's: start nothing more
      [ $(( $(date +%s) - STARTED[$g] )) -lt 60 ] && { log "failed at once: starting nothing more"; SLOTS=0; }
    fi
    unset "RUNNING[$g]"
  done
  [ $(( $(date +%s) - LAST )) -ge "$COMMIT_EVERY" ] && { snapshot "${#RUNNING[@]} running"; LAST=$(date +%s); }
done
