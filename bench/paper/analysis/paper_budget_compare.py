"""Paired comparisons behind this folder's README (same cases, 1000 bootstrap resamples, seed 0, 95% intervals).

1. Table 4: each ablation minus its control (the 1-epoch `control/` checkpoint), in this folder.
2. Every InstructEd row of this folder (paper budget) minus the same row of ../suite-smollm2-instructed (CPU
   budget, sessions 8-10), entry by entry.
3. CPU vs GPU: this folder's per-case metrics (run on an H200) against the same runs made on the CPU in
   ../instructed-paper-budget (cells that differ).

Run from the repository root (D=results/suite-smollm2-instructed-paper-budget):
    python $D/compare.py > $D/compare.txt
"""
from pathlib import Path

from bench.metrics import paired_bootstrap
from bench.runlog import read_per_case

NEW, OLD, CPU = (Path("results") / n for n in ("suite-smollm2-instructed-paper-budget", "suite-smollm2-instructed",
                                                "instructed-paper-budget"))
METRICS = ("Rel", "Gen", "Loc", "Loc_paper", "Por_hop", "Por_Nhop", "Hop_Acc", "H")


def deltas(a, b, metrics=METRICS) -> str:
    out = []
    for metric in metrics:
        got = paired_bootstrap(a, b, metric)
        if got is not None and (metric != "H" or any(o.startswith("Loc ") for o in out)):  # H needs Loc
            out.append(f"{metric} {got[0]:+.1f} [{got[1]:+.1f}, {got[2]:+.1f}]")
    return "; ".join(out)


print("# 1. Table 4 at 1 epoch: ablation - control")
for entry in ("counterfact-ablations", "zsre-ablations"):
    runs = read_per_case(NEW / entry / "per_case.csv")
    for editor in ("instructed-noreweight", "instructed-late", "instructed-ffn"):
        print(f"{entry} | {editor} - control | {deltas(runs[(editor, 'single')], runs[('instructed', 'single')])}")

print("\n# 2. paper budget (this folder) - CPU budget (../suite-smollm2-instructed), same entry, editor and cases")
for entry in sorted(p.parent.name for p in NEW.glob("*/per_case.csv")):
    if not (OLD / entry / "per_case.csv").exists():
        continue
    new, old = read_per_case(NEW / entry / "per_case.csv"), read_per_case(OLD / entry / "per_case.csv")
    for key in sorted(set(new) & set(old)):
        if key[1] != "sequential/after-edit":  # sequential: the final state only
            print(f"{entry} | {key[0]} | {key[1]} | {deltas(new[key], old[key])}")

print("\n# 3. H200 (this folder) vs CPU (../instructed-paper-budget): per-case metric cells that differ")
for cpu_run, entry in (("counterfact-200", "counterfact"), ("zsre-200", "zsre"), ("mquake-test", "mquake-test"),
                       ("table4-1ep-counterfact-50", "counterfact-ablations")):
    cpu, gpu = read_per_case(CPU / cpu_run / "per_case.csv"), read_per_case(NEW / entry / "per_case.csv")
    for key in sorted(set(cpu) & set(gpu)):
        on_gpu = {c.case_id: c.values for c in gpu[key]}
        differ = sum(v != on_gpu[c.case_id].get(m) for c in cpu[key] for m, v in c.values.items())
        cells = sum(len(c.values) for c in cpu[key])
        print(f"{cpu_run} vs {entry} | {key[0]} | {len(cpu[key])} cases | {differ} of {cells} cells differ")

print("\n# 4. Within the tables: row a - row b on the same cases")
BASE = Path("results/suite-smollm2")
WITHIN = (  # (entry of a, editor a, folder of b, editor b, protocol)
    ("mquake-test", "instructed", BASE, "ike", "single"),
    ("mquake-test", "instructed", BASE, "noedit", "single"),
    ("mquake-test", "instructed-retrieval", BASE, "ike", "single"),
    ("counterfact", "instructed", NEW, "instructed-noprefix", "single"),
    ("zsre-subject-replace", "instructed-ins", NEW, "instructed", "single"),
    ("counterfact-subject-replace", "instructed-ins", NEW, "instructed", "single"),
    ("counterfact-sequential", "instructed-retrieval", NEW, "instructed", "sequential/final"),
    ("zsre-sequential", "instructed-retrieval", NEW, "instructed", "sequential/final"),
    ("counterfact-sequential", "instructed-retrieval", BASE, "memit", "sequential/final"),
    ("zsre-sequential", "instructed-retrieval", BASE, "serac", "sequential/final"),
)
for entry, editor_a, other, editor_b, protocol in WITHIN:
    a = read_per_case(NEW / entry / "per_case.csv")[(editor_a, protocol)]
    b = read_per_case(other / entry / "per_case.csv")[(editor_b, protocol)]
    print(f"{entry} | {editor_a} - {editor_b} ({other.name}) | {protocol} | {deltas(a, b)}")
