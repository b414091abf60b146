"""Paper-budget InstructEd (results/instructed-paper-budget) minus the CPU-budget one
(results/suite-smollm2-instructed), same 200 cases, paired bootstrap.

    python -m bench.paper.analysis.old_vs_new
writes results/instructed-paper-budget/old-vs-new.txt.
"""

from __future__ import annotations

from pathlib import Path

from bench.metrics import paired_bootstrap
from bench.paper.analysis import report_main
from bench.runlog import read_per_case

OLD, NEW = "suite-smollm2-instructed", "instructed-paper-budget"  # below the results folder
RUNS = (("counterfact", "counterfact-200", "CounterFact"), ("zsre", "zsre-200", "ZsRE"))  # (old run, new run, name)
METRICS = ("Rel", "Gen", "Loc", "Por_hop", "Score", "H", "Loc_paper")
OUT = f"{NEW}/old-vs-new.txt"


def differences(old: Path, new: Path) -> list[str]:
    lines = ["dataset | editor | metric | paper budget - CPU budget [95% CI], paired bootstrap"]
    for old_run, new_run, name in RUNS:
        before, after = read_per_case(old / old_run / "per_case.csv"), read_per_case(new / new_run / "per_case.csv")
        for editor in ("instructed", "instructed-retrieval"):
            a, b = after[(editor, "single")], before[(editor, "single")]
            for metric in METRICS:
                got = paired_bootstrap(a, b, metric)
                if got is not None:
                    lines.append(f"{name} | {editor} | {metric} | {got[0]:+.2f} [{got[1]:+.2f}, {got[2]:+.2f}]")
    return lines


def main(argv: list[str] | None = None) -> Path:
    return report_main(__doc__, OUT, lambda results: differences(results / OLD, results / NEW), argv)


if __name__ == "__main__":
    main()
