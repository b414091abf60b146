"""From cases.jsonl rows to summary records (one per editor x dataset x protocol) and curves."""

from __future__ import annotations

from collections import defaultdict

from bench.metrics import ALL_METRICS, CaseMetrics, aggregate, bootstrap, case_metrics
from bench.runlog import is_eval_key, unit_key_eval


def group_cases(rows: list[dict], metric_options: dict | None = None) -> list[CaseMetrics]:
    by_case: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_case[r["case_id"]].append(r)
    return [case_metrics(cid, rs, **(metric_options or {})) for cid, rs in by_case.items()]


def evaluation_sets(rows: list[dict], protocol: str) -> dict[str, list[dict]]:
    """Protocol label -> the rows it summarises. Sequential runs report two labelled sets."""
    if protocol != "sequential":
        return {protocol: [r for r in rows if r.get("phase") == "after-edit"]}
    checkpoints = [r["n_edits"] for r in rows if is_eval_key(r.get("phase", ""))]
    out = {"sequential/after-edit": [r for r in rows if r.get("phase") == "after-edit"]}
    if checkpoints:
        last = max(checkpoints)
        out["sequential/final"] = [r for r in rows if r.get("phase") == unit_key_eval(last)]
    return out


def summarize(rows: list[dict], meta: dict, editor_options: dict[str, dict], n_resamples: int = 1000,
              seed: int = 0) -> list[dict]:
    """meta: dataset, model, protocol. editor_options: editor -> metric options."""
    records = []
    for editor in dict.fromkeys(r["editor"] for r in rows):
        mine = [r for r in rows if r["editor"] == editor]
        for label, picked in evaluation_sets(mine, meta["protocol"]).items():
            cases = group_cases(picked, editor_options.get(editor))
            if not cases:
                continue
            rec = {"editor": editor, "dataset": meta["dataset"], "model": meta["model"], "protocol": label,
                   "n_cases": len(cases), **aggregate(cases)}
            for metric, interval in bootstrap(cases, n_resamples, seed).items():
                rec[f"{metric}_lo"], rec[f"{metric}_hi"] = interval if interval else (None, None)
            records.append(rec)
    return records


def per_case(rows: list[dict], protocol: str, editor_options: dict[str, dict]) -> dict[tuple[str, str], list]:
    """(editor, protocol label) -> the per-case metrics behind each summary row (for paired bootstraps)."""
    out = {}
    for editor in dict.fromkeys(r["editor"] for r in rows):
        mine = [r for r in rows if r["editor"] == editor]
        for label, picked in evaluation_sets(mine, protocol).items():
            cases = group_cases(picked, editor_options.get(editor))
            if cases:
                out[(editor, label)] = cases
    return out


def sequential_curve(rows: list[dict], editor_options: dict[str, dict]) -> list[dict]:
    """Metrics on all cases edited so far, at every eval@K checkpoint."""
    out = []
    for editor in dict.fromkeys(r["editor"] for r in rows):
        checkpoints = sorted({r["n_edits"] for r in rows if r["editor"] == editor
                              and is_eval_key(r.get("phase", ""))})
        for n in checkpoints:
            picked = [r for r in rows if r["editor"] == editor and r.get("phase") == unit_key_eval(n)]
            values = aggregate(group_cases(picked, editor_options.get(editor)))
            out.append({"editor": editor, "n_edits": n, **{m: values[m] for m in ALL_METRICS}})
    return out


def is_known(case: CaseMetrics) -> bool:
    """The unedited model already gives the case's new target, teacher-forced or generated (`Known`, `Known_gen`)."""
    return bool(case.values.get("Known") or case.values.get("Known_gen"))


def without_known(records: list[dict], per_case: dict, n_resamples: int = 1000, seed: int = 0) -> list[dict]:
    """Summary records recomputed without their already-known cases (`report --exclude-known`), each saying how
    many it left out (`n_known`); `per_case`: (dataset, editor, protocol, model) -> per-case metrics. A record
    without per-case metrics that mark known cases (a run before them) is refused: it could not be filtered."""
    from bench.errors import BenchError

    out = []
    for rec in records:
        cases = per_case.get((rec["dataset"], rec["editor"], rec["protocol"], rec["model"]))
        if not cases or all(c.values.get("Known") is None and c.values.get("Known_gen") is None for c in cases):
            raise BenchError(f"--exclude-known: {rec['editor']} on {rec['dataset']} ({rec.get('run', 'a run')}) has "
                             "no per-case Known marks (runs from before them, or --scoring tf with --side-effects "
                             "off); rerun it, or report without --exclude-known")
        kept = [c for c in cases if not is_known(c)]
        new = {**rec, "n_cases": len(kept), "n_known": len(cases) - len(kept), **aggregate(kept)}
        for metric, interval in bootstrap(kept, n_resamples, seed).items():
            new[f"{metric}_lo"], new[f"{metric}_hi"] = interval if interval else (None, None)
        out.append(new)
    return out
