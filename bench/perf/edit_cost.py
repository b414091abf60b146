"""Cost per edit against edits made, from sequential runs' edit_costs.csv (issue 38: a weight editor's per-edit time
must not grow with the stream; a memory editor's lookup may, and shows it).

Per editor: edits, median seconds per edit over the first and the last quarter of the stream and their ratio, the
least-squares slope of seconds against edit number (seconds added per 100 edits), and peak memory at the first and
last edit (as the run measured it: bench/stream_meters.py). Writes the figure of bench.plots.edit_cost_figure.

    python -m bench.perf.edit_cost RUN_DIR [RUN_DIR...] --out results/perf/edit-cost
"""

from __future__ import annotations

import argparse
import csv
import statistics
from pathlib import Path

import numpy as np

from bench.plots import edit_cost_figure, save_figure


def read_costs(run_dir: Path) -> list[dict]:
    with (Path(run_dir) / "edit_costs.csv").open() as fh:
        return [{**r, "edit": int(r["edit"]), "edit_seconds": float(r["edit_seconds"]),
                 "edit_peak_mb": float(r["edit_peak_mb"])} for r in csv.DictReader(fh)]


def growth(costs: list[dict]) -> dict:
    """One editor's per-edit cost summary (module docstring)."""
    xs = np.array([r["edit"] for r in costs], dtype=float)
    ys = np.array([r["edit_seconds"] for r in costs])
    quarter = max(1, len(ys) // 4)
    first, last = statistics.median(ys[:quarter]), statistics.median(ys[-quarter:])
    slope = float(np.polyfit(xs, ys, 1)[0]) if len(ys) > 1 else 0.0
    return {"edits": len(ys), "first_quarter_s": first, "last_quarter_s": last,
            "last_over_first": last / first if first else float("nan"), "slope_s_per_100_edits": 100 * slope,
            "peak_mb_first": costs[0]["edit_peak_mb"], "peak_mb_last": costs[-1]["edit_peak_mb"]}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="sequential run directories")
    p.add_argument("--out", default=None, help="figure stem (writes STEM.png and STEM.svg)")
    args = p.parse_args(argv)
    costs = [r for run in args.runs for r in read_costs(Path(run))]
    print(f"{'editor':<10} {'edits':>5} {'s/edit first 1/4':>16} {'last 1/4':>9} {'ratio':>6} {'+s/100 edits':>12} "
          f"{'peak MB first':>13} {'last':>8}")
    for editor in dict.fromkeys(r["editor"] for r in costs):
        g = growth([r for r in costs if r["editor"] == editor])
        print(f"{editor:<10} {g['edits']:>5} {g['first_quarter_s']:>16.3f} {g['last_quarter_s']:>9.3f} "
              f"{g['last_over_first']:>6.2f} {g['slope_s_per_100_edits']:>12.4f} {g['peak_mb_first']:>13.1f} "
              f"{g['peak_mb_last']:>8.1f}")
    if args.out:
        title = "cost per edit: " + ", ".join(Path(run).name for run in args.runs)
        for path in save_figure(edit_cost_figure(costs, title), Path(args.out)):
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
