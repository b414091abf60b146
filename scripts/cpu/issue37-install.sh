#!/usr/bin/env bash
# On a CPU, once every entry of results/suite-smollm2-instructed-rows/ is done (issue37-suite.sh, the queue): that
# folder replaces results/suite-smollm2-instructed-paper-budget/ (the columns default's rows), and its tables,
# COMMANDS.md, explorer and compare.txt are made anew under the old name. Stages nothing: review, then commit both
# folders in one command (git add -A OLD NEW && git commit -m ... -- OLD NEW), since the queue commits what is staged.
#   bash scripts/cpu/issue37-install.sh
# What it leaves to a person, from the new tables: the folder's README (DATE, TOTAL, FINDINGS), results/README.md
# (tables, findings), README.md's excerpt of Table 2 and tests/test_committed_explorer.py's pinned values.
set -eu
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} BENCH_DATA_DIR=${BENCH_DATA_DIR:-../shared/data}
NEW=results/suite-smollm2-instructed-rows
OLD=results/suite-smollm2-instructed-paper-budget
SUITE=(python -m bench suite --name instructed-paper-budget --limit 200)

left=$("${SUITE[@]}" --out "$NEW" --dry-run 2>&1 | grep "estimated time still to run")
case $left in *"run: 0m00s "*) ;; *) echo "$NEW is not finished: $left"; exit 3 ;; esac
[ -d "$OLD" ] || { echo "$OLD is gone already: nothing to replace"; exit 3; }
pgrep -f "bench suite --name instructed-paper-budget" >/dev/null && { echo "a suite run is still going"; exit 3; }

rm -rf "$OLD"
mv "$NEW" "$OLD"
rm -rf "$OLD/tables"                   # the tables made as entries finished name NEW's paths
"${SUITE[@]}" --out "$OLD"              # every run is done: it writes the tables, COMMANDS.md and explorer.html
python -m bench.paper.analysis.paper_budget_compare

for xz in "$OLD"/*/cases.jsonl.xz; do   # the runs' rows packed as committed, and no unpacked copy left beside them
  rows=${xz%.xz}
  if [ -f "$rows" ]; then
    cmp -s "$rows" <(xz -dc "$xz") || xz -9e -T1 -c "$rows" > "$xz"
    rm "$rows"
  fi
done
rm -f "$OLD"/*/.lock
echo "done: fill DATE, TOTAL and FINDINGS in $OLD/README.md, then review and commit $OLD and $NEW (see the comment at the top)"
