"""What a lifelong (sequential) study reports, from cases.jsonl rows and the run's evaluation plan (issue 38).

- retention.csv: the retention matrix, one row per editor x cohort of edits x evaluation point: Rel, Gen, Loc of the
  cohort's scored cases at that point (`<metric>_at_eval`, with 95% bootstrap intervals over cases) next to the same
  cases' scores right after their own edits (`<metric>_after_edit`), so the two are never confused.
- lifelong.csv: one row per editor x evaluation point: the scores over every case scored there (with intervals) and
  their after-edit scores, Loc of the locality panel, the collapse rule's verdict (`collapsed`) and the first point
  where it held (`collapse_at`), and the weight-norm growth of the edited tensors (bench/stream_meters.py).
- edit_costs.csv: one row per edit: its seconds and peak memory (timings: the one file a rerun does not reproduce).

Collapse rule (`COLLAPSE_RULE`): the first evaluation point at which Loc on the locality panel (bench/lifelong.py: a
fixed set of early edits scored at every point) is below half its starting value. Loc is agreement with the unedited
model's predictions, so it starts at 100 before any edit, and the threshold is `COLLAPSE_LOC` = 50.
"""

from __future__ import annotations

from collections import defaultdict

from bench.lifelong import EvalPlan
from bench.metrics import CaseMetrics, aggregate, bootstrap
from bench.runlog import is_eval_key
from bench.summary import group_cases

METRICS = ("Rel", "Gen", "Loc")
COLLAPSE_LOC = 50.0
COLLAPSE_RULE = (f"first evaluation point where Loc on the locality panel < {COLLAPSE_LOC:g} (half of its starting "
                 "value, 100: the unedited model agrees with itself)")
COST_COLUMNS = ("editor", "edit", "case_id", "edit_seconds", "edit_peak_mb", "edit_memory")


def _scores(cases: list[CaseMetrics], suffix: str, n_resamples: int = 0, seed: int = 0) -> dict:
    """Rel/Gen/Loc of `cases` as `<metric><suffix>`, with `_lo`/`_hi` 95% bootstrap bounds when n_resamples."""
    values = aggregate(cases) if cases else {}
    intervals = bootstrap(cases, n_resamples, seed) if n_resamples else {}
    out = {}
    for m in METRICS:
        out[f"{m}{suffix}"] = values.get(m)
        if n_resamples:
            out[f"{m}{suffix}_lo"], out[f"{m}{suffix}_hi"] = intervals.get(m) or (None, None)
    return out


class EditorRows:
    """One editor's rows of a sequential run, indexed the ways the tables read them."""

    def __init__(self, rows: list[dict], options: dict | None = None):
        self.options = options or {}
        self.edit_of: dict[str, int] = {}  # case id -> its edit number
        self.after: dict[str, list[dict]] = defaultdict(list)
        self.points: dict[int, list[dict]] = defaultdict(list)
        for r in rows:
            if r.get("phase") == "after-edit":
                self.edit_of[r["case_id"]] = r["n_edits"]
                self.after[r["case_id"]].append(r)
            elif is_eval_key(r.get("phase")):
                self.points[r["n_edits"]].append(r)

    def at(self, n: int, ids: set[str] | None = None) -> list[CaseMetrics]:
        return group_cases([r for r in self.points[n] if ids is None or r["case_id"] in ids], self.options)

    def after_edit(self, ids) -> list[CaseMetrics]:
        return group_cases([r for i in ids for r in self.after.get(i, [])], self.options)


def retention_rows(editor: str, er: EditorRows, plan: EvalPlan, n_resamples: int, seed: int) -> list[dict]:
    """The retention matrix of one editor (module docstring), cohort-major."""
    out = []
    for g, (first, last) in enumerate(plan.cohorts()):
        for n in sorted(er.points):
            ids = {r["case_id"] for r in er.points[n] if first <= er.edit_of.get(r["case_id"], 0) <= last}
            if ids:
                out.append({"editor": editor, "cohort": g + 1, "first_edit": first, "last_edit": last, "n_edits": n,
                            "cases": len(ids), **_scores(er.at(n, ids), "_at_eval", n_resamples, seed),
                            **_scores(er.after_edit(sorted(ids)), "_after_edit")})
    return out


def lifelong_rows(editor: str, er: EditorRows, plan: EvalPlan, n_resamples: int, seed: int) -> list[dict]:
    """One editor's row per evaluation point (module docstring), with the collapse rule applied."""
    by_edit = {n: cid for cid, n in er.edit_of.items()}
    panel = {by_edit[i + 1] for i in plan.panel_indices if i + 1 in by_edit}
    out = []
    for n in sorted(er.points):
        rows = er.points[n]
        ids = sorted({r["case_id"] for r in rows})
        loc_panel = aggregate(er.at(n, panel))["Loc"] if panel else None
        first = rows[0]
        norm, delta = first.get("weight_norm"), first.get("weight_delta_norm")
        out.append({"editor": editor, "n_edits": n, "evaluation": "full" if plan.full_at(n) else "sampled",
                    "cases": len(ids), "queries": len(rows), **_scores(er.at(n), "_at_eval", n_resamples, seed),
                    **_scores(er.after_edit(ids), "_after_edit"), "Loc_panel": loc_panel,
                    "collapsed": int(loc_panel is not None and loc_panel < COLLAPSE_LOC), "collapse_at": None,
                    "weight_delta_norm": delta, "weight_norm": norm, "weight_norm_growth": _ratio(delta, norm)})
    collapse = next((r["n_edits"] for r in out if r["collapsed"]), None)
    for r in out:
        r["collapse_at"] = collapse
    return out


def _ratio(delta: float | None, norm: float | None) -> float | None:
    if delta is None or norm is None:
        return None
    return delta / norm if norm else 0.0


def cost_rows(records: list[dict], editors: list[str]) -> list[dict]:
    """edit_costs.csv: the after-edit cost records (RunLog.read_costs), per editor in edit order."""
    rank = {e: i for i, e in enumerate(editors)}
    picked = [r for r in records if r.get("editor") in rank and r.get("n_edits") is not None]
    picked.sort(key=lambda r: (rank[r["editor"]], r["n_edits"]))
    return [{"editor": r["editor"], "edit": r["n_edits"], "case_id": r["case_id"],
             **{c: r.get(c) for c in COST_COLUMNS[3:]}} for r in picked]


def evaluation_work(er: EditorRows, plan: EvalPlan) -> dict:
    """What config.json records of an editor's evaluation work: cases and queries scored on the edited model,
    right after each edit and at the evaluation points, against the number of edits and the plan's bound."""
    at_points = [r for rows in er.points.values() for r in rows]
    cases_at = sum(len({r["case_id"] for r in rows}) for rows in er.points.values())
    queries_after = sum(len(rs) for rs in er.after.values())
    edits = len(er.edit_of)
    cases = edits + cases_at
    return {"edits": edits, "cases_after_edit": edits, "cases_at_points": cases_at, "cases_scored": cases,
            "queries_after_edit": queries_after, "queries_at_points": len(at_points),
            "queries_scored": queries_after + len(at_points),
            "cases_per_edit": round(cases / edits, 4) if edits else None,
            "queries_per_edit": round((queries_after + len(at_points)) / edits, 4) if edits else None,
            "cases_bound": plan.cases_bound(), "cases_bound_per_edit": round(plan.cases_bound() / plan.n_edits, 4)}


def write_lifelong(log, rows: list[dict], plan: EvalPlan, editor_options: dict[str, dict], n_resamples: int,
                   seed: int, title: str = "") -> None:
    """retention.csv, lifelong.csv and edit_costs.csv of a sequential run, and their figures (plots/)."""
    from bench.plots import edit_cost_plots, retention_plots

    editors = list(dict.fromkeys(r["editor"] for r in rows))
    retention, points = [], []
    for editor in editors:
        er = EditorRows([r for r in rows if r["editor"] == editor], editor_options.get(editor))
        retention += retention_rows(editor, er, plan, n_resamples, seed)
        points += lifelong_rows(editor, er, plan, n_resamples, seed)
    costs = cost_rows(log.read_costs(), editors)
    log.write_table("retention.csv", retention)
    log.write_table("lifelong.csv", points)
    log.write_table("edit_costs.csv", costs)
    retention_plots(retention, log.out / "plots", title)
    edit_cost_plots(costs, log.out / "plots", title)
