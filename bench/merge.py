"""`bench merge`: fold the rows of a parallel run directory into another one and re-summarise it.

Long suites are made in pieces: one editor per process on a 2-core machine, or
the first 100 cases of a run before the next 100. A merge keeps one directory per
table entry. It only joins rows that one `bench run` would have written: the same
dataset, model, protocol and seed, cases of the target run, and no unit twice.
Single-protocol cases are independent and seeded alike, so a source run may
hold a subset of the target's cases (`--limit 100` into `--limit 200`, the rest
then run with `--resume`); batch and sequential runs must have the same cases.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from bench.errors import BenchError
from bench.lifecycle import RunConfig, finish, load_config
from bench.resume import RESUME_OPTIONS, recorded_option
from bench.runlog import RunLog

# A resume's options, but --limit may differ: the case lists are compared instead (_check_options).
SAME_OPTIONS = tuple(k for k in RESUME_OPTIONS if k != "limit")


def merge(source: str | Path, target: str | Path, editors: list[str] | None = None) -> dict:
    """Append `editors` (default: all of the source's) from `source` to `target`; returns the merge note."""
    source, target = Path(source), Path(target)
    src = load_config(source)
    load_config(target)  # a clear error for a target that is not a run directory, before anything is locked
    log = RunLog(target)
    with log.lock:  # no run may append to the target while its rows are checked and joined
        return _merge(source, target, src, load_config(target), editors, log)


def _merge(source: Path, target: Path, src: dict, dst: dict, editors: list[str] | None, log: RunLog) -> dict:
    _check_options(source, target, src, dst)
    log.check_rows_kept(dst, "bench merge")  # strictly: merged rows must not stand in for rows that are gone
    names = _editors(source, src, editors)
    rows = [r for r in RunLog(source).rows() if r["editor"] in names]
    _check_rows(source, target, dst, rows, log)
    for name in names:
        dst["editors"][name] = _joined_record(target, name, src["editors"][name], dst["editors"].get(name))
    note = {"from": str(source), "editors": names, "rows": len(rows), "merged_at": _now(),
            "command": src.get("command"), "started": src.get("started"), "git": src.get("git"),
            "device": src.get("model", {}).get("device"), "n_cases": src.get("n_cases")}
    dst["merged"] = _as_list(dst.get("merged")) + [note]
    cfg = RunConfig.recorded(dst["args"])  # built before anything is written: a config it refuses changes nothing
    log.append(rows)
    log.write_config(dst)
    if rows:
        meta = {key: rows[0][key] for key in ("dataset", "model", "protocol")}
        finish(log, meta, dst, cfg)
    return note


def _check_options(source: Path, target: Path, src: dict, dst: dict) -> None:
    options = {k: (recorded_option(src["args"], k), recorded_option(dst["args"], k)) for k in SAME_OPTIONS}
    differ = {k: pair for k, pair in options.items() if pair[0] != pair[1]}
    if differ:
        detail = ", ".join(f"{k}={a!r} vs {b!r}" for k, (a, b) in differ.items())
        raise BenchError(f"bench merge: {source} and {target} differ in {detail}; only runs that one `bench run` "
                         "could have written together can be merged. Rerun the editors into the target with --resume.")
    src_ids, dst_ids = src.get("case_ids", []), dst.get("case_ids", [])
    subset = set(src_ids) <= set(dst_ids)
    if not subset or (src["args"]["protocol"] != "single" and src_ids != dst_ids):
        need = "a subset of" if src["args"]["protocol"] == "single" else "the same list as"
        raise BenchError(f"bench merge: the cases of {source} ({len(src_ids)}) are not {need} the cases of {target} "
                         f"({len(dst_ids)}); check --limit and the dataset file of both runs.")


def _editors(source: Path, src: dict, editors: list[str] | None) -> list[str]:
    names = list(editors) if editors else list(src["editors"])
    missing = [n for n in names if n not in src["editors"]]
    if missing:
        raise BenchError(f"bench merge: {source}/config.json has no editor {', '.join(missing)} "
                         f"(it has {', '.join(src['editors']) or 'none'})")
    return names


def _check_rows(source: Path, target: Path, dst: dict, rows: list[dict], log: RunLog) -> None:
    have = {(r["editor"], r["unit"]) for r in log.rows()}
    twice = sorted({f"{r['editor']} {r['unit']}" for r in rows if (r["editor"], r["unit"]) in have})
    if twice:
        raise BenchError(f"bench merge: {target}/cases.jsonl already has {len(twice)} unit(s) of {source}, e.g. "
                         f"{twice[0]}; a unit may be merged once. Nothing was written.")
    ids = set(dst.get("case_ids", []))
    outside = sorted({r["case_id"] for r in rows if r.get("case_id") not in ids}, key=str)
    if outside:
        raise BenchError(f"bench merge: {source}/cases.jsonl has rows of case {outside[0]}, which {target} does not "
                         "hold; nothing was written.")


def _joined_record(target: Path, name: str, src: dict, dst: dict | None) -> dict:
    """A source record for an editor the target lacks; for one it has, the same configuration is required."""
    if dst is None:
        return dict(src)
    for key in ("config", "metric_options"):
        if src.get(key) != dst.get(key):
            raise BenchError(f"bench merge: editor {name} has a different {key} in the source and in {target}; rows "
                             "of differently configured editors cannot share a summary. Nothing was written.")
    joined = dict(dst)
    joined["seconds"] = round(float(dst.get("seconds", 0.0)) + float(src.get("seconds", 0.0)), 3)
    return joined


def _as_list(value) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]


def _now() -> str:
    return datetime.now().isoformat(timespec="seconds")
