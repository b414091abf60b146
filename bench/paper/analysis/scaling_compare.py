"""InstructEd's two scalings of Eq. 15, each trained at the paper's budget on the same records (issue 37 item 3):
row scaling (the authors' code) minus column scaling (the paper's text), paired on Tables 2 and 3's cases, for
gold mode and + Retrieval (1000 bootstrap resamples, seed 0, 95% intervals).

Both checkpoints are evaluated under the paper's text (compat=strict; the editor's scaling=auto follows the
checkpoint), so the two runs of a dataset differ in the trained mechanism alone. Each run folder holds one
checkpoint's `instructed` and `instructed-retrieval` rows:

    python -m bench run --editors instructed,instructed-retrieval --dataset DATASET --model smollm2-135m \\
        [--limit 200] --scoring tf --side-effects off --loc-unrelated 5 \\
        --editor-args 'instructed:checkpoint=CKPT;instructed-retrieval:checkpoint=CKPT' \\
        --out results/instructed-scaling/SCALING-DATASET

with SCALING `rows` or `columns` and DATASET `counterfact`, `zsre` (200 cases) and `mquake-test`, scored as the paper
suites score (Loc_unrelated included). A comparison whose runs are not there yet is listed as missing.
CKPT was results/checkpoints/instructed/smollm2-135m-SCALING (`scripts/cpu/issue37-continue.sh SCALING` trained
and ran each); the rows checkpoint, which the rule picked, has been the default folder since 2026-12-07. The rows
runs' folders were then dropped: the paper-budget suite's runs of the same entries (`ROWS_SUITE`, made with the
default checkpoint once installed) hold the same per-case rows, and are read instead.

    python -m bench.paper.analysis.scaling_compare
writes results/instructed-scaling/compare.txt.

Which becomes the default was fixed before either run finished (2026-12-06): rows replace columns if, in gold mode
(`instructed`), rows' paired H interval lies above zero on one Table 2 dataset and not below zero on the other, and
its Table 3 Hop_Acc interval does not lie below zero. Otherwise columns (the paper's text) stay, with these
differences as the measured reason. The report's last line applies the rule (`verdict`).
"""

from __future__ import annotations

from pathlib import Path

from bench.metrics import paired_bootstrap
from bench.paper.analysis import report_main
from bench.paper.analysis.paper_budget_compare import paired_line
from bench.runlog import read_per_case

FOLDER = "instructed-scaling"
ROWS_SUITE = "suite-smollm2-instructed-paper-budget"
OUT = f"{FOLDER}/compare.txt"
EDITORS = ("instructed", "instructed-retrieval")
TABLES = (  # (table, dataset, metrics)
    ("Table 2", "counterfact", ("Rel", "Gen", "Loc", "Por_hop", "H")),
    ("Table 2", "zsre", ("Rel", "Gen", "Loc", "Por_hop", "H")),
    ("Table 3", "mquake-test", ("Por_Nhop", "Hop_Acc", "MH_Acc")),
)


def run_folder(scaling: str, dataset: str) -> str:
    """A scaling's run of a dataset, relative to results/: rows in the suite's entry, columns in FOLDER."""
    return f"{ROWS_SUITE}/{dataset}" if scaling == "rows" else f"{FOLDER}/{scaling}-{dataset}"


def compare_lines(results: Path) -> list[str]:
    lines = ["# InstructEd, rows - columns (a: rows, b: columns), same cases, both under compat=strict"]
    for table, dataset, metrics in TABLES:
        rows_run, columns_run = (run_folder(scaling, dataset) for scaling in ("rows", "columns"))
        for editor in EDITORS:
            lines.append(paired_line(results, f"{table} | {dataset} | {editor}", (rows_run, editor),
                                     (columns_run, editor), "single", metrics))
    return lines + [verdict(results)]


# the rule (module docstring): (dataset, metric) of gold mode's paired rows - columns intervals it reads
RULE = (("counterfact", "H"), ("zsre", "H"), ("mquake-test", "Hop_Acc"))


def verdict(results: Path) -> str:
    """The default the rule picks from the gold-mode intervals, or which run it still waits for."""
    got = {}
    for dataset, metric in RULE:
        rows = []
        for scaling in ("rows", "columns"):
            path = results / run_folder(scaling, dataset) / "per_case.csv"
            found = read_per_case(path).get(("instructed", "single")) if path.exists() else None
            if found is None:
                return f"# default: undecided, no instructed rows in {run_folder(scaling, dataset)} yet"
            rows.append(found)
        got[dataset, metric] = paired_bootstrap(*rows, metric)
        if got[dataset, metric] is None:
            return f"# default: undecided, no paired {metric} on {dataset}"
    cf, zsre, hop = (got[key] for key in RULE)  # (difference, low, high); "above zero": low > 0, "below": high < 0
    rows_win = ((cf[1] > 0 and zsre[2] >= 0) or (zsre[1] > 0 and cf[2] >= 0)) and hop[2] >= 0
    what = "; ".join(f"{d} {m} {v[0]:+.1f} [{v[1]:+.1f}, {v[2]:+.1f}]" for (d, m), v in got.items())
    return f"# default: {'rows (the rule is met)' if rows_win else 'columns stay (the rule is not met)'}: {what}"


def main(argv: list[str] | None = None) -> Path:
    return report_main(__doc__, OUT, compare_lines, argv)


if __name__ == "__main__":
    main()
