"""What a long sequential stream will cost, predicted from a shorter one that was measured (issue 38 item 5).

Per editor, from a sequential run's `edit_costs.csv` and `config.json`:

- seconds of the k-th edit = level + growth x (k - m): level is the median seconds per edit measured, m the median
  edit number measured, growth the Theil-Sen slope (the median of pairwise slopes, robust to the load spikes of a
  shared machine) and never below 0 (a cost that falls along a measured stream is the machine's load changing,
  not the method; a weight editor's growth should be about 0, a memory editor's lookup may grow);
- evaluation = the cases the default plan scores for N edits (bench/lifelong.py `make_plan`: sampled beyond 100
  edits) x the run's seconds per scored case (its wall time less its edits' time, over the cases its plan scored);
- peak memory = the last measured peak + its Theil-Sen growth per edit (at least 0) x the edits beyond it.

Several editors on W Ray workers (one stream per worker, a stream cannot be split) take the longest stream or the
total over W, whichever is larger, when streams are packed longest first onto the least loaded worker. Times are
those of the machine that made the runs (their config.json records it); a GPU is not predicted from a CPU run.

    python -m bench.perf.stream_plan RUN_DIR [RUN_DIR...] --edits 1000,10000 --workers 1,4
"""

from __future__ import annotations

import argparse
import heapq
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.errors import BenchError
from bench.lifelong import EvalOptions, make_plan
from bench.perf.edit_cost import read_costs


@dataclass(frozen=True)
class StreamCost:
    """One editor's measured costs, as the prediction uses them."""

    editor: str
    edits: int  # edits measured
    level: float  # median seconds per edit measured
    middle: float  # median edit number measured
    seconds_growth: float  # seconds added per edit made (>= 0)
    eval_seconds_per_case: float
    peak_mb_last: float
    mb_growth: float  # peak MB added per edit made (>= 0)

    def edit_seconds(self, n: int) -> float:
        """Predicted seconds of edits 1..n: the sum over k of level + growth (k - middle)."""
        return n * self.level + self.seconds_growth * (n * (n + 1) / 2 - n * self.middle)

    def seconds(self, n: int, scored: int) -> float:
        """Predicted seconds of n edits whose evaluation scores `scored` cases (`planned_cases`)."""
        return self.edit_seconds(n) + scored * self.eval_seconds_per_case

    def peak_mb(self, n: int) -> float:
        return self.peak_mb_last + self.mb_growth * max(0, n - self.edits)


def measure(run_dir: Path) -> list[StreamCost]:
    """The costs of every editor of a sequential run that recorded its edits' costs."""
    for name in ("config.json", "edit_costs.csv"):
        if not (run_dir / name).exists():
            raise BenchError(f"{run_dir}: no {name}; the prediction reads a sequential run's folder as `bench run "
                             "--protocol sequential` writes it (edit costs and the run's wall time)")
    config = json.loads((run_dir / "config.json").read_text())
    plan = config.get("evaluation_plan") or {}
    out = []
    costs = read_costs(run_dir)
    for editor in dict.fromkeys(r["editor"] for r in costs):
        mine = [r for r in costs if r["editor"] == editor]
        x = np.array([r["edit"] for r in mine], dtype=float)
        seconds = np.array([r["edit_seconds"] for r in mine])
        wall = float(config["editors"][editor]["seconds"])
        scored = plan.get("planned_cases") or len(mine)
        evaluation = max(0.0, wall - float(seconds.sum())) / scored
        out.append(StreamCost(editor, len(mine), float(np.median(seconds)), float(np.median(x)),
                              max(0.0, theil_sen(x, seconds)), evaluation, mine[-1]["edit_peak_mb"],
                              max(0.0, theil_sen(x, np.array([r["edit_peak_mb"] for r in mine])))))
    return out


def theil_sen(x: np.ndarray, y: np.ndarray, max_pairs: int = 200_000) -> float:
    """The median slope over pairs of points (all pairs, or `max_pairs` seeded random ones); 0 for one point."""
    n = len(x)
    if n < 2:
        return 0.0
    if n * (n - 1) // 2 <= max_pairs:
        i, j = np.triu_indices(n, k=1)
    else:
        rng = np.random.default_rng(0)
        i, j = rng.integers(0, n, max_pairs), rng.integers(0, n, max_pairs)
    keep = x[i] != x[j]
    return float(np.median((y[j][keep] - y[i][keep]) / (x[j][keep] - x[i][keep]))) if keep.any() else 0.0


def workers_wall(stream_seconds: list[float], workers: int) -> float:
    """Wall seconds of independent streams on `workers` workers, longest first onto the least loaded."""
    loads = [0.0] * max(1, workers)  # a heap: loads[0] is the least loaded worker
    for s in sorted(stream_seconds, reverse=True):
        heapq.heapreplace(loads, loads[0] + s)
    return max(loads)


def planned_cases(n: int) -> int:
    """Cases the default evaluation plan scores for n edits at ten points along the stream (the same for every
    editor)."""
    return make_plan(n, max(1, n // 10), EvalOptions()).planned_cases()


def table(streams: list[StreamCost], edits: list[int], workers: list[int]) -> list[str]:
    """The prediction as printed: per editor and N, hours on one core and peak GB; then all editors on W workers."""
    scored = {n: planned_cases(n) for n in edits}
    seconds = [[s.seconds(n, scored[n]) for n in edits] for s in streams]  # per editor, per N
    lines = [f"{'editor':<11} {'measured':>8} {'s/edit':>7} {'+s/100':>7} {'s/case':>7} "
             + " ".join(f"{f'{n:,} edits: h':>15} {'GB':>5}" for n in edits)]
    for s, row in zip(streams, seconds):
        cells = " ".join(f"{t / 3600:15.1f} {s.peak_mb(n) / 1024:5.2f}" for n, t in zip(edits, row))
        lines.append(f"{s.editor:<11} {s.edits:>8} {s.level:7.2f} {100 * s.seconds_growth:7.2f} "
                     f"{s.eval_seconds_per_case:7.2f} {cells}")
    for w in workers:
        walls = " ".join(f"{workers_wall(list(column), w) / 3600:15.1f} {'':>5}" for column in zip(*seconds))
        lines.append(f"{f'all, {w} worker(s)':<44} {walls}")
    return lines


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="sequential run directories with edit_costs.csv")
    p.add_argument("--edits", default="1000,10000", help="stream lengths to predict (comma-separated)")
    p.add_argument("--workers", default="1,4", help="Ray worker counts for all the editors together")
    args = p.parse_args(argv)
    streams = [s for run in args.runs for s in measure(Path(run))]
    edits = [int(n) for n in args.edits.split(",")]
    print("\n".join(table(streams, edits, [int(w) for w in args.workers.split(",")])))


if __name__ == "__main__":
    main()
