"""Each newer editor against the one it revises, on the claim its paper makes (SmolLM2-135M, same cases, paired
bootstrap: 1000 resamples, seed 0, 95% intervals; results/README.md "Today's editors").

- AlphaEdit vs MEMIT and r-ROME vs ROME after 100 sequential CounterFact edits (every edited case scored on the
  final model);
- EMMET vs MEMIT with 100 CounterFact edits in one batch;
- WISE vs GRACE after 100 sequential ZsRE edits, at the authors' shard size and scaled to the model;
- SERAC as published vs our variant serac-icl on Table 2's 200 CounterFact and 200 ZsRE cases.

A comparison whose run is not there yet is listed as missing, with the run folder it needs.

    python -m bench.paper.analysis.newer_editors
writes results/suite-smollm2/newer-editors.txt.
"""

from __future__ import annotations

from pathlib import Path

from bench.paper.analysis import report_main
from bench.paper.analysis.paper_budget_compare import paired_line

OUT = "suite-smollm2/newer-editors.txt"
METRICS = ("Rel", "Gen", "Loc", "Por_hop", "H")
FINAL, BATCH, SINGLE = "sequential/final", "batch", "single"
CLAIMS = (  # (claim, (run of the newer editor, editor), (run of the one it revises, editor), protocol)
    ("AlphaEdit keeps locality and earlier edits better than MEMIT under sequential editing",
     ("suite-smollm2/counterfact-sequential-alphaedit", "alphaedit"), ("suite-smollm2/counterfact-sequential", "memit"),
     FINAL),
    ("r-ROME edits sequentially without the collapse of ROME",
     ("suite-smollm2/counterfact-sequential-r-rome", "r-rome"), ("suite-smollm2/counterfact-sequential", "rome"),
     FINAL),
    ("EMMET batch-edits on a par with MEMIT at batch size 100",
     ("baselines-smollm2-100/counterfact-batch-emmet", "emmet"), ("baselines-smollm2-100/counterfact-batch", "memit"),
     BATCH),
    ("WISE keeps reliability and locality together under sequential editing, unlike GRACE",
     ("suite-smollm2/zsre-sequential-wise", "wise"), ("suite-smollm2/zsre-sequential", "grace"), FINAL),
    ("The same with the authors' 500 edits per shard scaled to SmolLM2's side memory (save_freq=10)",
     ("suite-smollm2/zsre-sequential-wise-shard10", "wise"), ("suite-smollm2/zsre-sequential", "grace"), FINAL),
    ("SERAC as published against our in-context variant, CounterFact (Table 2)",
     ("suite-smollm2/counterfact-newer", "serac"), ("suite-smollm2/counterfact", "serac-icl"), SINGLE),
    ("SERAC as published against our in-context variant, ZsRE (Table 2)",
     ("suite-smollm2/zsre-newer", "serac"), ("suite-smollm2/zsre", "serac-icl"), SINGLE),
)


def claim_lines(results: Path) -> list[str]:
    lines = ["# Newer editor - the editor it revises, same cases (a: newer, b: revised)"]
    for claim, (run_a, editor_a), (run_b, editor_b), protocol in CLAIMS:
        head = f"{claim} | {editor_a} ({run_a}) - {editor_b} ({run_b}) | {protocol}"
        lines.append(paired_line(results, head, (run_a, editor_a), (run_b, editor_b), protocol, METRICS))
    return lines


def main(argv: list[str] | None = None) -> Path:
    return report_main(__doc__, OUT, claim_lines, argv)


if __name__ == "__main__":
    main()
