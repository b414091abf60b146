"""Paired comparisons behind results/suite-smollm2-instructed-paper-budget/README.md (same cases, 1000 bootstrap
resamples, seed 0, 95% intervals), on the rows default of 2026-12-07 and its Table 4 set.

1. Table 4: each ablation minus its control (the 1-epoch `control/` checkpoint), key columns (`instructed-columns`)
   among them.
2. Within the tables: row a minus row b on the same cases.

The folder's earlier parts (the paper budget against the CPU budget, and the H200's rows against the CPU's) were
about the columns default of 2026-12-04, which the rows default replaced; git history keeps them (commit 91b9580).

    python -m bench.paper.analysis.paper_budget_compare
writes results/suite-smollm2-instructed-paper-budget/compare.txt.
"""

from __future__ import annotations

from pathlib import Path

from bench.metrics import paired_bootstrap
from bench.paper.analysis import report_main
from bench.runlog import read_per_case

NEW, BASE = "suite-smollm2-instructed-paper-budget", "suite-smollm2"  # folders below the results folder
METRICS = ("Rel", "Gen", "Loc", "Loc_paper", "Por_hop", "Por_Nhop", "Hop_Acc", "H")
ABLATED = ("instructed-noreweight", "instructed-late", "instructed-ffn", "instructed-columns")
FINAL = "sequential/final"
WITHIN = (  # (entry of a in this folder, editor a, run folder of b below results/, editor b, protocol)
    ("mquake-test", "instructed", f"{BASE}/mquake-test", "ike", "single"),
    ("mquake-test", "instructed", f"{BASE}/mquake-test", "noedit", "single"),
    ("mquake-test", "instructed-retrieval", f"{BASE}/mquake-test", "ike", "single"),
    ("mquake-test", "instructed-retrieval", f"{NEW}/mquake-test", "instructed", "single"),
    ("mquake-test", "instructed-retrieval-one", f"{NEW}/mquake-test", "instructed", "single"),
    ("counterfact", "instructed", f"{NEW}/counterfact", "instructed-noprefix", "single"),
    ("counterfact", "instructed-retrieval", f"{NEW}/counterfact", "instructed", "single"),
    ("zsre", "instructed-retrieval", f"{NEW}/zsre", "instructed", "single"),
    ("zsre-subject-replace", "instructed-ins", f"{NEW}/zsre-subject-replace", "instructed", "single"),
    ("counterfact-subject-replace", "instructed-ins", f"{NEW}/counterfact-subject-replace", "instructed", "single"),
    ("zsre-inverse-newer", "instructed-retrieval", f"{NEW}/zsre-inverse", "instructed", "single"),
    ("zsre-subject-replace-newer", "instructed-retrieval", f"{NEW}/zsre-subject-replace", "instructed", "single"),
    ("counterfact-subject-replace-newer", "instructed-retrieval", f"{NEW}/counterfact-subject-replace", "instructed",
     "single"),
    ("counterfact-sequential", "instructed-retrieval", f"{NEW}/counterfact-sequential", "instructed", FINAL),
    ("zsre-sequential", "instructed-retrieval", f"{NEW}/zsre-sequential", "instructed", FINAL),
    ("counterfact-sequential", "instructed-retrieval", f"{BASE}/counterfact-sequential", "memit", FINAL),
    ("zsre-sequential", "instructed-retrieval", f"{BASE}/zsre-sequential", "serac-icl", FINAL),
)
OUT = f"{NEW}/compare.txt"


def deltas(a, b, metrics=METRICS) -> str:
    out = []
    for metric in metrics:
        got = paired_bootstrap(a, b, metric)
        if got is not None and (metric != "H" or any(o.startswith("Loc ") for o in out)):  # H needs Loc
            out.append(f"{metric} {got[0]:+.1f} [{got[1]:+.1f}, {got[2]:+.1f}]")
    return "; ".join(out)


def paired_line(results: Path, head: str, a: tuple[str, str], b: tuple[str, str], protocol: str,
                metrics=METRICS) -> str:
    """`head | n=N | deltas`: editor a's rows in run a minus editor b's in run b ((run below `results`, editor)),
    paired by case; `head | missing: ...` naming the first run whose rows are not there yet."""
    found = []
    for run, editor in (a, b):
        path = results / run / "per_case.csv"
        rows = read_per_case(path).get((editor, protocol)) if path.exists() else None
        if rows is None:
            return f"{head} | missing: no {editor} rows in {run}"
        found.append(rows)
    n = len({c.case_id for c in found[0]} & {c.case_id for c in found[1]})  # deltas pairs them by case id
    return f"{head} | n={n} | {deltas(*found, metrics)}"


def ablations(results: Path) -> list[str]:
    lines = ["# 1. Table 4 at 1 epoch: ablation - control"]
    for entry in ("counterfact-ablations", "zsre-ablations"):
        run = f"{NEW}/{entry}"
        lines += [paired_line(results, f"{entry} | {editor} - control", (run, editor), (run, "instructed"), "single")
                  for editor in ABLATED]
    return lines


def within(results: Path) -> list[str]:
    lines = ["", "# 2. Within the tables: row a - row b on the same cases"]
    for entry, editor_a, other, editor_b, protocol in WITHIN:
        head = f"{entry} | {editor_a} - {editor_b} ({other}) | {protocol}"
        lines.append(paired_line(results, head, (f"{NEW}/{entry}", editor_a), (other, editor_b), protocol))
    return lines


def report_lines(r: Path) -> list[str]:
    return ablations(r) + within(r)


def main(argv: list[str] | None = None) -> Path:
    return report_main(__doc__, OUT, report_lines, argv)


if __name__ == "__main__":
    main()
