"""Give a committed run folder back its per-query rows, from a rerun that reproduces it.

Most committed runs keep only summary.csv and per_case.csv (their cases.jsonl was removed for space), so the
explorer's case browser and `bench.load_run(...).rows` have nothing to show for them. This takes the rows of a
rerun made with the folder's recorded options, checks that they give every per-case value of the folder's
per_case.csv (to 4 decimals, as older per_case.csv files were written), and only then writes them as the
folder's cases.jsonl.gz with a `rows` note in config.json. summary.csv and per_case.csv stay the original run's;
rows already attached for other editors are kept. A rerun that differs in one value writes nothing.

    python -m bench.paper.attach_rows results/suite-smollm2/zsre /work/runs/zsre-a:rome,grace /work/runs/zsre-b
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from datetime import date
from pathlib import Path

from bench.atomic import atomic_write, atomic_write_text
from bench.errors import BenchError
from bench.lifecycle import load_config
from bench.resume import WRITTEN_WITH
from bench.runlog import PER_CASE_METRICS, RunLog, read_per_case
from bench.summary import per_case

GZ = "cases.jsonl.gz"


def _rounded(values: dict) -> dict:
    return {m: None if values.get(m) is None else round(float(values[m]), 4) for m in PER_CASE_METRICS}


def reproduced_rows(target: Path, run: Path, editors: list[str] | None = None) -> list[dict]:
    """The rows of `editors` (default: all of the rerun's) in `run`, once each of their per-case values equals
    `target`'s per_case.csv and they cover the same cases; otherwise a BenchError naming editor, case and metric."""
    rows = RunLog(run).rows(with_record=True)
    config = load_config(run)
    editors = editors or list(dict.fromkeys(r["editor"] for r in rows))
    mine = [r for r in rows if r["editor"] in editors]
    options = {n: e.get("metric_options", {}) for n, e in config["editors"].items()}
    protocol = load_config(target)["args"]["protocol"]
    committed = read_per_case(target / "per_case.csv")
    plain = [{k: v for k, v in r.items() if k != WRITTEN_WITH} for r in mine]
    for (editor, label), cases in per_case(plain, protocol, options).items():
        theirs = {c.case_id: c.values for c in committed.get((editor, label), [])}
        if len(theirs) != len(cases):
            raise BenchError(f"{run}: {editor} ({label}) has {len(cases)} cases, {target}/per_case.csv "
                             f"{len(theirs)}; rerun it with the folder's options (its config.json `args`). "
                             "Nothing was written.")
        for c in cases:
            old, new = _rounded(theirs.get(str(c.case_id), {})), _rounded(c.values)
            if old != new:
                metric = next(m for m in PER_CASE_METRICS if old[m] != new[m])
                raise BenchError(f"{run}: {editor} case {c.case_id} {metric} is {new[metric]}, "
                                 f"{target}/per_case.csv has {old[metric]}: the rerun does not reproduce the "
                                 "folder, so its rows cannot stand for the original's. Nothing was written.")
    missing = [e for e in editors if not any(r["editor"] == e for r in mine)]
    if missing:
        raise BenchError(f"{run} holds no rows of {', '.join(missing)}. Nothing was written.")
    return mine


def attach(target: str | Path, sources: list[tuple[str | Path, list[str] | None]]) -> list[str]:
    """Check every source (run directory, editors), then write target/cases.jsonl.gz and its config.json note;
    returns the editors attached."""
    target = Path(target)
    found = [(Path(run), reproduced_rows(target, Path(run), editors)) for run, editors in sources]
    new = [r for _, rows in found for r in rows]
    attached = list(dict.fromkeys(r["editor"] for r in new))
    kept = [r for r in _attached_rows(target) if r["editor"] not in attached]
    text = "".join(json.dumps(r) + "\n" for r in kept + new).encode()

    def write(tmp: Path) -> None:
        with gzip.GzipFile(tmp, "wb", compresslevel=9, mtime=0) as fh:  # no timestamp: same rows, same bytes
            fh.write(text)

    atomic_write(target / GZ, write)
    config = load_config(target)
    commits = sorted({load_config(run)["git"]["revision"][:7] for run, _ in found})
    note = (f"{GZ} holds the rows of {', '.join(attached)} from a rerun on {date.today().isoformat()} with the "
            f"same options (commit {', '.join(commits)}; python -m bench.paper.attach_rows): every per-case value "
            "equals per_case.csv, which, like summary.csv, is the original run's; the original rows were not kept")
    earlier = config.get("rows")
    config["rows"] = note if not earlier else (earlier if isinstance(earlier, list) else [earlier]) + [note]
    atomic_write_text(target / "config.json", json.dumps(config, indent=2, default=str) + "\n")
    return attached


def _attached_rows(target: Path) -> list[dict]:
    path = target / GZ
    return [json.loads(x) for x in gzip.decompress(path.read_bytes()).splitlines()] if path.exists() else []


def _source(text: str) -> tuple[str, list[str] | None]:
    run, _, editors = text.partition(":")
    return run, [e for e in editors.split(",") if e] or None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", help="the committed run folder (summary.csv, per_case.csv, config.json)")
    parser.add_argument("runs", nargs="+", help="RUN or RUN:EDITOR,EDITOR: a rerun's folder and which editors")
    args = parser.parse_args(argv)
    try:
        editors = attach(args.target, [_source(s) for s in args.runs])
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.target}/{GZ}: rows of {', '.join(editors)} attached")
    return 0


if __name__ == "__main__":
    sys.exit(main())
