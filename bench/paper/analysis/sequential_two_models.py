"""ROME and MEMIT under 100 sequential CounterFact edits on both models, in one figure.

Each run's curve.csv holds the metrics on the cases edited so far after every 10 edits; this puts the
SmolLM2 and Gemma curves of the two parameter editors the cross-model finding compares side by side, one line
per (editor, model), with the harness's own curve figure; and Gemma's ROME with the second moments
(mom2_adjustment=true, rome-sequential-mom2/), which shows why its ROME forgets (rome-second-moments.py).

Run from the repository root: python results/suite-gemma3/sequential-two-models.py
Writes results/suite-gemma3/plots/sequential-two-models.png and .svg.
"""

from pathlib import Path

from bench.plots import curve_figure, save_figure
from bench.runlog import read_curve

SMOLLM2, GEMMA = Path("results/suite-smollm2"), Path("results/suite-gemma3")
# (line label, run, editor in that run)
SERIES = [("rome · smollm2-135m", SMOLLM2 / "counterfact-sequential", "rome"),
          ("memit · smollm2-135m", SMOLLM2 / "counterfact-sequential", "memit"),
          ("rome · gemma3-270m", GEMMA / "counterfact-sequential", "rome"),
          ("memit · gemma3-270m", GEMMA / "counterfact-sequential", "memit"),
          ("rome, C = second moments · gemma3-270m", GEMMA / "rome-sequential-mom2", "rome")]
OUT = Path("results/suite-gemma3/plots/sequential-two-models")


def all_curves() -> list[dict]:
    """The points of every series, each named by its label."""
    points = []
    for label, run, editor in SERIES:
        curve = read_curve(run / "curve.csv")
        if not curve:
            raise SystemExit(f"{run / 'curve.csv'} is missing: make that run first "
                             "(results/suite-gemma3/README.md gives the commands).")
        points += [{**p, "editor": label} for p in curve if p["editor"] == editor]
    return points


def main() -> None:
    fig = curve_figure(all_curves(), "CounterFact, 100 sequential edits: ROME and MEMIT on both models")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    for path in save_figure(fig, OUT):
        print(path)


if __name__ == "__main__":
    main()
