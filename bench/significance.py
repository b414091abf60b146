"""Is "best" real? Paired bootstrap of InstructEd against the best other editor, per table column.

Both editors are scored on the same cases, so each resample draws case ids once
and recomputes both aggregates on them (bench.metrics.paired_bootstrap). The
per-case metrics come from each run's per_case.csv.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bench.metrics import CaseMetrics, paired_bootstrap
from bench.runlog import read_per_case, read_summary
from bench.tables import Grid, belongs_to, is_reference

PerCase = dict[tuple[str, str, str, str], list[CaseMetrics]]  # (dataset, editor, protocol, model) -> cases


@dataclass(frozen=True)
class Comparison:
    column: str
    metric: str
    ours: str
    ours_value: float
    other: str
    other_value: float
    diff: float | None  # ours - other on the shared cases; None without per-case data
    lo: float | None
    hi: float | None
    n_shared: int

    @property
    def verdict(self) -> str:
        if self.diff is None:
            return "no per-case data"
        if self.lo > 0:
            return "yes (ours higher)"
        if self.hi < 0:
            return "yes (other higher)"
        return "no"


def load_per_case(run_dirs: list[str], records: list[dict] | None = None) -> PerCase:
    """Per-case metrics of every run that has per_case.csv, keyed by the run's dataset and model (from its summary:
    per_case.csv names neither, and two models' runs hold the same editors and cases). With `records` (summary
    records carrying their `run`, as bench.sources.select keeps them) only the rows behind those records are read,
    so a paired test compares the very rows the table shows."""
    keep = None if records is None else {(os.path.normpath(r["run"]), r["editor"], r["protocol"]) for r in records}
    out: PerCase = {}
    for d in run_dirs:
        path, summary = Path(d) / "per_case.csv", Path(d) / "summary.csv"
        if not (path.exists() and summary.exists()):
            continue
        origin = {r["editor"]: (r["dataset"], r["model"]) for r in read_summary(summary)}
        for (editor, protocol), cases in read_per_case(path).items():
            if editor in origin and (keep is None or (os.path.normpath(d), editor, protocol) in keep):
                dataset, model = origin[editor]
                out[(dataset, editor, protocol, model)] = cases
    return out


def compare(grid: Grid, per_case: PerCase, n_resamples: int = 1000, seed: int = 0) -> list[Comparison]:
    """For each InstructEd row (gold, retrieval, ...), column and metric: it vs the best other editor
    (InstructEd variants and the unedited reference are not rivals), or, in a table of InstructEd
    variants only (Tables 4, 9, 12), `instructed` vs the best variant."""
    editors = [e for _, eds in grid.groups for e in eds if not is_reference(e)]
    method = grid.layout.ours
    if all(belongs_to(e, method) for e in editors):  # an ablation table: the method vs its best variant
        return _compare_row(grid, per_case, method, n_resamples, seed, ablation=True) if method in editors else []
    ours_rows = [e for e in editors if belongs_to(e, method)]
    return [c for ours in ours_rows for c in _compare_row(grid, per_case, ours, n_resamples, seed)]


def _compare_row(grid: Grid, per_case: PerCase, ours: str, n_resamples: int, seed: int,
                 ablation: bool = False) -> list[Comparison]:
    rival = (lambda e: e != ours) if ablation else (lambda e: not belongs_to(e, grid.layout.ours))
    out = []
    for col, cols in enumerate(grid.layout.columns):
        mine = grid.record(ours, col)
        if mine is None:
            continue
        for metric in cols.metrics:
            rivals = [(r[metric], e) for (e, c), r in grid.cells.items() if c == col and r.get(metric) is not None
                      and rival(e) and not is_reference(e)]
            if mine.get(metric) is None or not rivals:
                continue
            value, other = max(rivals)
            theirs = grid.record(other, col)
            a = per_case.get((mine["dataset"], ours, mine["protocol"], mine["model"]))
            b = per_case.get((theirs["dataset"], other, theirs["protocol"], theirs["model"]))
            shared = len({c.case_id for c in a} & {c.case_id for c in b}) if a and b else 0
            result = paired_bootstrap(a, b, metric, n_resamples, seed) if shared else None
            diff, lo, hi = result if result else (None, None, None)
            out.append(Comparison(cols.label, metric, ours, mine[metric], other, value, diff, lo, hi, shared))
    return out
