"""The evaluation plan of a sequential run: at which edit counts the edited model is evaluated, and on which of the
cases edited so far, so that a stream of N edits costs a bounded multiple of N (issue 38).

A stream of up to `FULL_UP_TO` edits (the paper's 100) is evaluated in full by default: every edited case at every
evaluation point, as sequential runs always were (their unit keys and rows are unchanged). A longer one is sampled:
each evaluation point before the last scores

- a stratified sample of the edits made so far. The edits are split into cohorts by when they were made (the
  intervals between evaluation points, merged into at most `MAX_COHORTS` consecutive groups); each cohort with edits
  made by then contributes the first ceil(sample / cohorts) of them in a seeded permutation of the cohort. A
  cohort's samples are nested: an edit scored at a later point was scored at every earlier point since it was made;
- the `recent` newest edits;
- the locality panel: the first `panel` edits of the first cohort's permutation made by the first point, scored at
  every point, a fixed set of cases whose Loc the collapse rule reads (bench/retention.py).

The last point (all N edits) is always a full evaluation, so the `sequential/final` summary row is on every edit.
Cases scored: N right after their edits, at most N at the last point and `per_point_bound()` at each other one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from bench.errors import BenchError
from bench.runlog import unit_key_eval

FULL_UP_TO = 100  # streams up to this many edits are evaluated in full unless --eval-sample says otherwise
DEFAULT_SAMPLE = 100  # earlier edits scored per evaluation point of a longer stream (stratified by cohort)
DEFAULT_RECENT = 10  # the newest edits, always scored
DEFAULT_PANEL = 20  # the locality panel's cases
MAX_COHORTS = 20  # rows of the retention matrix; a cohort's share of the sample is at least one edit


@dataclass(frozen=True)
class EvalOptions:
    """`bench run`'s evaluation options as given (None: the documented default)."""

    points: tuple[int, ...] = ()  # --eval-points: edit counts to evaluate at (else every --eval-every, and the end)
    sample: int | None = None  # --eval-sample: None auto, 0 full evaluation, K sampled
    recent: int | None = None  # --eval-recent
    panel: int | None = None  # --eval-panel


@dataclass(frozen=True)
class EvalPlan:
    n_edits: int
    points: tuple[int, ...]  # increasing edit counts; the last is n_edits
    sample: int  # 0: full evaluation at every point
    recent: int = 0
    panel: int = 0
    seed: int = 0
    cohort_bounds: tuple[int, ...] = field(default=(), repr=False)  # edit index where each cohort starts, then N

    @property
    def full(self) -> bool:
        return self.sample == 0

    def cohorts(self) -> list[tuple[int, int]]:
        """(first, last) edit number (1-based, inclusive) of each cohort."""
        b = self.cohort_bounds
        return [(b[g] + 1, b[g + 1]) for g in range(len(b) - 1)]

    def cohort_of(self, edit_number: int) -> int:
        """The cohort (0-based) of the edit made `edit_number`-th (1-based)."""
        return int(np.searchsorted(self.cohort_bounds, edit_number - 1, side="right")) - 1

    def key(self, n: int) -> str:
        """The unit key of the evaluation after `n` edits: sampled points are keyed apart from full ones."""
        return unit_key_eval(n, sampled=not self.full_at(n))

    def full_at(self, n: int) -> bool:
        return self.full or n == self.n_edits

    def keys_through(self, n: int) -> set[str]:
        return {self.key(p) for p in self.points if p <= n}

    @cached_property
    def _orders(self) -> list[list[int]]:
        """Each cohort's edit indices (0-based) in its seeded order."""
        b = self.cohort_bounds
        return [np.random.default_rng([self.seed, g]).permutation(np.arange(b[g], b[g + 1])).tolist()
                for g in range(len(b) - 1)]

    @cached_property
    def panel_indices(self) -> list[int]:
        """The locality panel: edit indices (0-based), made by the first evaluation point."""
        if self.full:  # every case edited by the first point is scored at every point
            return list(range(self.points[0]))
        return sorted([i for i in self._orders[0] if i < self.points[0]][:self.panel])

    def cases_at(self, n: int) -> list[int]:
        """Indices (0-based, increasing) of the edited cases scored at the evaluation after `n` edits."""
        if self.full_at(n):
            return list(range(n))
        live = [order for g, order in enumerate(self._orders) if self.cohort_bounds[g] < n]
        share = math.ceil(self.sample / len(live))
        chosen = set(self.panel_indices) | set(range(max(0, n - self.recent), n))
        for order in live:
            chosen.update([i for i in order if i < n][:share])
        return sorted(chosen)

    def per_point_bound(self) -> int:
        """At most this many cases are scored at a sampled point: sample + cohorts + recent + panel."""
        return self.sample + len(self.cohort_bounds) - 1 + self.recent + self.panel

    def planned_cases(self) -> int:
        """Cases the plan scores on the edited model: each right after its edit, and at every evaluation point."""
        return self.n_edits + sum(len(self.cases_at(n)) for n in self.points)

    def cases_bound(self) -> int:
        """The stated bound on `planned_cases()`: 2N + (P - 1) x `per_point_bound()` sampled; full: N + sum of
        the points (quadratic in N at a fixed --eval-every, which is why long streams are sampled)."""
        if self.full:
            return self.n_edits + sum(self.points)
        return 2 * self.n_edits + (len(self.points) - 1) * self.per_point_bound()

    def record(self) -> dict:
        """What config.json records of the plan."""
        return {"mode": "full" if self.full else "sampled", "points": list(self.points), "sample": self.sample,
                "recent": self.recent, "panel": len(self.panel_indices), "seed": self.seed, "cohorts": self.cohorts(),
                "full_up_to": FULL_UP_TO, "max_cohorts": MAX_COHORTS, "planned_cases": self.planned_cases(),
                "cases_bound": self.cases_bound()}


def make_plan(n_edits: int, every: int, options: EvalOptions, seed: int = 0) -> EvalPlan:
    """The plan of a stream of `n_edits`; a BenchError names the option that cannot apply."""
    points = _points(n_edits, every, options.points)
    sample = _check_count("--eval-sample", options.sample)
    if sample is None:
        sample = 0 if n_edits <= FULL_UP_TO else DEFAULT_SAMPLE
    recent, panel = _check_count("--eval-recent", options.recent), _check_count("--eval-panel", options.panel)
    if sample == 0 and (recent is not None or panel is not None):
        why = f"by default (streams up to {FULL_UP_TO} edits are)" if options.sample is None else "(--eval-sample 0)"
        raise BenchError(f"--eval-recent and --eval-panel apply to sampled evaluation; this stream of {n_edits} edits "
                         f"is evaluated in full {why}. Add --eval-sample K to sample K earlier edits per evaluation "
                         "point, or leave them out.")
    if sample == 0:
        return EvalPlan(n_edits, points, 0, 0, 0, seed, _cohort_bounds(points))
    recent = DEFAULT_RECENT if recent is None else recent
    panel = DEFAULT_PANEL if panel is None else panel
    return EvalPlan(n_edits, points, sample, recent, panel, seed, _cohort_bounds(points))


def _check_count(flag: str, value: int | None) -> int | None:
    if value is not None and value < 0:
        raise BenchError(f"{flag} {value}: give a number of cases >= 0")
    return value


def _points(n: int, every: int, given: tuple[int, ...]) -> tuple[int, ...]:
    if given and every:
        raise BenchError("--eval-points and --eval-every both name evaluation points; give one of them")
    bad = [p for p in given if not 1 <= p <= n]
    if bad:
        raise BenchError(f"--eval-points {','.join(map(str, given))}: {bad[0]} is not an edit count of this stream "
                         f"(1 to {n}, the number of edits)")
    points = set(given) if given else set(range(every, n + 1, every) if every else ())
    return tuple(sorted(points | {n}))


def _cohort_bounds(points: tuple[int, ...]) -> tuple[int, ...]:
    """Cohort starts (edit indices) and the end: the evaluation intervals, merged into <= MAX_COHORTS groups."""
    starts = (0, *points)
    groups = min(len(points), MAX_COHORTS)
    return tuple(starts[g * len(points) // groups] for g in range(groups)) + (points[-1],)


def options_from(cfg) -> EvalOptions:
    """The options of a RunConfig (or anything with its eval_* fields)."""
    return EvalOptions(tuple(cfg.eval_points or ()), cfg.eval_sample, cfg.eval_recent, cfg.eval_panel)
