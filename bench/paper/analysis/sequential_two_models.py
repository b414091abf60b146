"""ROME and MEMIT under 100 sequential CounterFact edits on both models, in one figure.

Each run's curve.csv holds the metrics on the cases edited so far after every 10 edits; this puts the
SmolLM2 and Gemma curves of the two parameter editors the cross-model finding compares side by side, one line
per (editor, model), with the harness's own curve figure; and Gemma's ROME with the second moments
(mom2_adjustment=true, rome-sequential-mom2/), which shows why its ROME forgets (rome_second_moments).

    python -m bench.paper.analysis.sequential_two_models
writes results/suite-gemma3/plots/sequential-two-models.png and .svg.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.plots import curve_figure, save_figure
from bench.runlog import read_curve

# (line label, run below the results folder, editor in that run)
SERIES = [("rome · smollm2-135m", "suite-smollm2/counterfact-sequential", "rome"),
          ("memit · smollm2-135m", "suite-smollm2/counterfact-sequential", "memit"),
          ("rome · gemma3-270m", "suite-gemma3/counterfact-sequential", "rome"),
          ("memit · gemma3-270m", "suite-gemma3/counterfact-sequential", "memit"),
          ("rome, C = second moments · gemma3-270m", "suite-gemma3/rome-sequential-mom2", "rome")]
OUT = "suite-gemma3/plots/sequential-two-models"  # below the results folder, without the extension
TITLE = "CounterFact, 100 sequential edits: ROME and MEMIT on both models"


def all_curves(results: Path) -> list[dict]:
    """The points of every series, each named by its label."""
    points = []
    for label, run, editor in SERIES:
        curve = read_curve(results / run / "curve.csv")
        if not curve:
            raise SystemExit(f"{results / run / 'curve.csv'} is missing: make that run first "
                             "(results/suite-gemma3/README.md gives the commands).")
        points += [{**p, "editor": label} for p in curve if p["editor"] == editor]
    return points


def main(argv: list[str] | None = None) -> list[Path]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", type=Path, default=Path("results"), help="the results folder holding the runs")
    p.add_argument("--out", type=Path, default=None, help=f"figure path without extension (default RESULTS/{OUT})")
    args = p.parse_args(argv)
    out = args.out or args.results / OUT
    fig = curve_figure(all_curves(args.results), TITLE)
    out.parent.mkdir(parents=True, exist_ok=True)
    written = save_figure(fig, out)
    for path in written:
        print(path)
    return written


if __name__ == "__main__":
    main()
