"""InstructEd against IKE on the held-out multi-edit cases (results/instructed-heldout/README.md): for each run
folder of multi-runs/ (one InstructEd setting or checkpoint each, IKE beside it on the same cases), the values and
the paired InstructEd - IKE differences (1000 bootstrap resamples, seed 0, 95% intervals), on the four-edit cases
and on all of them.

    python -m bench.paper.analysis.heldout_multi      # writes the cases file first (not committed)
    python -m bench.paper.analysis.heldout_compare
writes results/instructed-heldout/multi-runs/compare.txt.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.metrics import paired_bootstrap
from bench.paper.analysis import report_main
from bench.runlog import read_per_case

HELDOUT = "instructed-heldout"
CASES = f"{HELDOUT}/mquake-heldout-multi.json"
RUNS = ("instruction", "fact", "rows")  # Eq. 14 on the whole instruction; per fact; the rows default (2026-12-07)
IKE_RUN = "instruction"  # IKE's rows (the others reuse them: IKE has nothing of InstructEd's to change)
METRICS = ("Rel", "Por_Nhop", "Hop_Acc")


def edits_per_case(path: Path) -> dict[str, int]:
    if not path.is_file():
        raise SystemExit(f"{path} is missing: write it with `python -m bench.paper.analysis.heldout_multi`")
    return {str(case["case_id"]): len(case["requested_rewrite"]) for case in json.loads(path.read_text())}


def cell(ours, ike, metric: str) -> str:
    mean = sum(c.values[metric] for c in ours) / len(ours)
    got = paired_bootstrap(ours, ike, metric)
    return f"{metric} {mean:.1f} ({got[0]:+.1f} [{got[1]:+.1f}, {got[2]:+.1f}])"


def lines_of(results: Path) -> list[str]:
    edits = edits_per_case(results / CASES)
    lines = ["# InstructEd (value, and minus IKE on the same cases) | IKE's values"]
    ike_rows = read_per_case(results / HELDOUT / "multi-runs" / IKE_RUN / "per_case.csv")[("ike", "single")]
    for run in RUNS:
        path = results / HELDOUT / "multi-runs" / run / "per_case.csv"
        if not path.is_file():
            lines.append(f"{run} | missing: {path}")
            continue
        rows = read_per_case(path)
        for label, keep in (("4-edit", lambda c: edits[c.case_id] == 4), ("all", lambda c: True)):
            ours = [c for c in rows[("instructed", "single")] if keep(c)]
            ike = [c for c in ike_rows if keep(c)]
            theirs = " / ".join(f"{sum(c.values[m] for c in ike) / len(ike):.1f}" for m in METRICS)
            lines.append(f"{run} | {label} ({len(ours)}) | {'; '.join(cell(ours, ike, m) for m in METRICS)} | "
                         f"IKE {theirs}")
    return lines


def main(argv: list[str] | None = None) -> Path:
    return report_main(__doc__, f"{HELDOUT}/multi-runs/compare.txt", lines_of, argv)


if __name__ == "__main__":
    main()
