"""Paper-budget InstructEd (this folder) minus the CPU-budget one (../suite-smollm2-instructed), same 200 cases.

Run from the repository root:
    python results/instructed-paper-budget/old-vs-new.py > results/instructed-paper-budget/old-vs-new.txt
"""
from pathlib import Path

from bench.metrics import paired_bootstrap
from bench.runlog import read_per_case

OLD, NEW = Path("results/suite-smollm2-instructed"), Path("results/instructed-paper-budget")
print("dataset | editor | metric | paper budget - CPU budget [95% CI], paired bootstrap")
for old_dir, new_dir, name in (("counterfact", "counterfact-200", "CounterFact"), ("zsre", "zsre-200", "ZsRE")):
    old, new = read_per_case(OLD / old_dir / "per_case.csv"), read_per_case(NEW / new_dir / "per_case.csv")
    for editor in ("instructed", "instructed-retrieval"):
        a, b = new[(editor, "single")], old[(editor, "single")]
        for metric in ("Rel", "Gen", "Loc", "Por_hop", "Score", "H", "Loc_paper"):
            got = paired_bootstrap(a, b, metric)
            if got is None:
                continue
            diff, lo, hi = got
            print(f"{name} | {editor} | {metric} | {diff:+.2f} [{lo:+.2f}, {hi:+.2f}]")
