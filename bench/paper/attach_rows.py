"""Give a committed run folder back its per-query rows, from a rerun that reproduces it.

Most committed runs keep only summary.csv and per_case.csv (their cases.jsonl was removed for space), so the
explorer's case browser and `bench.load_run(...).rows` have nothing to show for them. This takes the rows of a
rerun made with the folder's recorded options, checks that they give every per-case value of the folder's
per_case.csv (to 4 decimals, as older per_case.csv files were written), and only then writes them as the
folder's packed rows (cases.jsonl.xz, bench/packed_rows.py) with a `rows` note in config.json. summary.csv and
per_case.csv stay the original run's; rows already attached for other editors are kept. A rerun that differs in
one value writes nothing.

Where no rerun here reproduces an editor (the original machine's arithmetic), `--replace` supersedes it instead:
the editor's summary.csv and per_case.csv lines and its config.json record become the rerun's, its rows join
the packed rows, and the `rows` note lists every per-case value that changed, so one run is the source of all
three. The rerun must have the folder's options and cases.

    python -m bench.paper.attach_rows results/suite-smollm2/zsre /work/runs/zsre-a:rome,grace /work/runs/zsre-b
    python -m bench.paper.attach_rows --replace results/suite-smollm2/zsre /work/runs/zsre-d:lora
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import date
from pathlib import Path

from bench.atomic import atomic_write, atomic_write_text
from bench.errors import BenchError
from bench.lifecycle import load_config
from bench.packed_rows import PACKED, packed_records, write_packed
from bench.resume import WRITTEN_WITH
from bench.runlog import (
    PER_CASE_METRICS,
    RunLog,
    finished_editors,
    per_case_text,
    read_per_case,
    summary_text,
    table_text,
)
from bench.summary import per_case, sequential_curve, summarize


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
    differences = _differences(target, run, per_case(_unstamped(mine), protocol, options))
    if differences:
        editor, case_id, metric, old, new = differences[0]
        raise BenchError(f"{run}: {editor} case {case_id} {metric} is {new}, {target}/per_case.csv has {old}: the "
                         "rerun does not reproduce the folder, so its rows cannot stand for the original's. Nothing "
                         "was written.")
    missing = [e for e in editors if not any(r["editor"] == e for r in mine)]
    if missing:
        raise BenchError(f"{run} holds no rows of {', '.join(missing)}. Nothing was written.")
    return mine


def attach(target: str | Path, sources: list[tuple[str | Path, list[str] | None]]) -> list[str]:
    """Check every source (run directory, editors), then write target's packed rows and its config.json note;
    returns the editors attached."""
    target = Path(target)
    found = [(Path(run), reproduced_rows(target, Path(run), editors)) for run, editors in sources]
    new = [r for _, rows in found for r in rows]
    attached = list(dict.fromkeys(r["editor"] for r in new))
    write_packed(target, [r for r in packed_records(target) if r["editor"] not in attached] + new)
    config = load_config(target)
    commits = sorted({load_config(run)["git"]["revision"][:7] for run, _ in found})
    note = (f"{PACKED} holds the rows of {', '.join(attached)} from a rerun on {date.today().isoformat()} with the "
            f"same options (commit {', '.join(commits)}; python -m bench.paper.attach_rows): every per-case value "
            "equals per_case.csv, which, like summary.csv, is the original run's; the original rows were not kept")
    _add_note(target, config, note)
    return attached


def _add_note(target: Path, config: dict, note: str) -> None:
    earlier = config.get("rows")
    config["rows"] = note if not earlier else (earlier if isinstance(earlier, list) else [earlier]) + [note]
    atomic_write_text(target / "config.json", json.dumps(config, indent=2, default=str) + "\n")


# The options that make two runs' rows comparable; one the folder's config.json predates (None) had the value the
# rerun passes explicitly (tf scoring, no side effects, no unrelated-locality prompts).
SAME_OPTIONS = ("dataset", "model", "protocol", "batch_size", "num_edits", "eval_every", "limit", "seed", "dtype",
                "bootstrap", "encoder", "scoring", "side_effects", "loc_unrelated", "fluency_prompts")


def replace(target: str | Path, run: str | Path, editors: list[str]) -> list[str]:
    """Supersede `editors` in `target` by the finished rerun `run` (same options and cases): their summary.csv,
    per_case.csv and (sequential) curve.csv lines, config.json records and rows become the rerun's. Returns the
    per-case values that changed ("editor case metric: old -> new"), which the folder's `rows` note lists."""
    target, run = Path(target), Path(run)
    tconfig, rconfig = load_config(target), load_config(run)
    _check_same_run(target, tconfig, run, rconfig, editors)
    rows = [r for r in RunLog(run).rows(with_record=True) if r["editor"] in editors]
    plain = _unstamped(rows)
    options = {e: rconfig["editors"][e].get("metric_options", {}) for e in editors}
    args = tconfig["args"]
    new_cases = per_case(plain, args["protocol"], options)
    changed = [f"{e} {c} {m}: {old} -> {new}" for e, c, m, old, new in _differences(target, run, new_cases)]
    summary_path = target / "summary.csv"
    header, old_records = _read_csv(summary_path)
    meta = {k: old_records[0][k] for k in ("dataset", "model")} | {"protocol": args["protocol"]}
    records = summarize(plain, meta, options, args.get("bootstrap", 1000), args.get("seed", 0))
    _write_csv(summary_path, header, _spliced(old_records, editors,
                                              [{k: summary_text(r.get(k)) for k in header} for r in records]))
    pc_header, pc_old = _read_csv(target / "per_case.csv")
    pc_new = [{"editor": e, "protocol": label, "case_id": str(c.case_id),
               **{m: per_case_text(c.values.get(m)) for m in pc_header[3:]}}
              for (e, label), cases in new_cases.items() for c in cases]
    _write_csv(target / "per_case.csv", pc_header, _spliced(pc_old, editors, pc_new))
    sequential = (target / "curve.csv").exists()
    if sequential:  # the folder's checkpoints (sequential_curve, as RunLog.write_curve wrote them)
        curve_header, curve_old = _read_csv(target / "curve.csv")
        curve_new = [{k: table_text(r.get(k)) for k in curve_header} for r in sequential_curve(plain, options)]
        _write_csv(target / "curve.csv", curve_header, _spliced(curve_old, editors, curve_new))
    write_packed(target, [r for r in packed_records(target) if r["editor"] not in editors] + rows)
    for e in editors:
        tconfig["editors"][e] = rconfig["editors"][e]
    files = "summary.csv, per_case.csv and curve.csv" if sequential else "summary.csv and per_case.csv"
    note = (f"{', '.join(editors)}: {files} lines, config.json records and the rows in {PACKED} "
            f"replaced on {date.today().isoformat()} by a rerun with the same options (commit "
            f"{rconfig['git']['revision'][:7]}; python -m bench.paper.attach_rows --replace): the original rows "
            "were not kept and no rerun here reproduces them; per-case values that changed: "
            + ("; ".join(changed) or "none"))
    _add_note(target, tconfig, note)
    return changed


def _check_same_run(target: Path, tconfig: dict, run: Path, rconfig: dict, editors: list[str]) -> None:
    differ = [f"{k} {tconfig['args'][k]!r} / {rconfig['args'].get(k)!r}" for k in SAME_OPTIONS
              if tconfig["args"].get(k) is not None and tconfig["args"][k] != rconfig["args"].get(k)]
    for e in editors:
        if e not in tconfig["editors"]:
            differ.append(f"{target} has no editor {e}")
        elif e not in finished_editors(rconfig):
            differ.append(f"{run} has not finished {e} (bench run --resume finishes it)")
        else:
            mine, theirs = (_settings(c["editors"][e]["config"]) for c in (tconfig, rconfig))
            differ += [f"{e} {k} {_short(mine.get(k))} / {_short(theirs.get(k))}"
                       for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k)]
    if differ:
        raise BenchError(f"{run} cannot replace {', '.join(editors)} in {target}: {'; '.join(differ)} (folder / "
                         "rerun). Rerun with the folder's options (its config.json `args`). Nothing was written.")


# What an editor's config.json record says about the machine rather than the settings: where its hparams file
# lay, and per statistics site where the cached file lay, whether it was cached and how long it took to read.
MACHINE_FIELDS = ("hparams_source",)
MACHINE_SITE_FIELDS = ("path", "from_cache", "seconds")


def _settings(config: dict) -> dict:
    out = {k: v for k, v in config.items() if k not in MACHINE_FIELDS}
    stats = out.get("statistics")
    if isinstance(stats, dict) and isinstance(stats.get("sites"), dict):
        sites = {site: {k: v for k, v in rec.items() if k not in MACHINE_SITE_FIELDS} if isinstance(rec, dict) else rec
                 for site, rec in stats["sites"].items()}
        out["statistics"] = {**stats, "sites": sites}
    return out


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _differences(target: Path, run: Path, new_cases: dict) -> list[tuple]:
    """(editor, case, metric, folder's value, rerun's value) of every per-case value that differs from `target`'s
    per_case.csv (to 4 decimals); a BenchError when the rerun covers other cases than the folder."""
    committed = read_per_case(target / "per_case.csv")
    out = []
    for (editor, label), cases in new_cases.items():
        theirs = {c.case_id: c.values for c in committed.get((editor, label), [])}
        if set(theirs) != {str(c.case_id) for c in cases}:
            raise BenchError(f"{run}: {editor} ({label}) has {len(cases)} cases, {target}/per_case.csv "
                             f"{len(theirs)}{' other ones' if len(theirs) == len(cases) else ''}; rerun it with the "
                             "folder's options (its config.json `args`). Nothing was written.")
        for c in cases:
            old, new = _rounded(theirs[str(c.case_id)]), _rounded(c.values)
            out += [(editor, str(c.case_id), m, old[m], new[m]) for m in PER_CASE_METRICS if old[m] != new[m]]
    return out


def _unstamped(rows: list[dict]) -> list[dict]:
    """Rows without the unit stamp (`written_with`), as the summaries read them."""
    return [{k: v for k, v in r.items() if k != WRITTEN_WITH} for r in rows]


def _read_csv(path: Path) -> tuple[list[str], list[dict]]:
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def _write_csv(path: Path, header: list[str], records: list[dict]) -> None:
    def write(tmp: Path) -> None:
        with tmp.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=header)
            writer.writeheader()
            writer.writerows(records)

    atomic_write(path, write)


def _spliced(old: list[dict], editors: list[str], new: list[dict]) -> list[dict]:
    """`old` with the lines of `editors` replaced by `new`, placed where the first of them stood."""
    at = next((i for i, r in enumerate(old) if r["editor"] in editors), len(old))
    kept = [r for r in old if r["editor"] not in editors]
    return kept[:at] + new + kept[at:]



def _source(text: str) -> tuple[str, list[str] | None]:
    run, _, editors = text.partition(":")
    return run, [e for e in editors.split(",") if e] or None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", help="the committed run folder (summary.csv, per_case.csv, config.json)")
    parser.add_argument("runs", nargs="+", help="RUN or RUN:EDITOR,EDITOR: a rerun's folder and which editors")
    parser.add_argument("--replace", action="store_true",
                        help="supersede the editors' lines, records and rows by one rerun's (RUN:EDITORS)")
    args = parser.parse_args(argv)
    try:
        if args.replace:
            run, editors = _source(args.runs[0])
            if len(args.runs) != 1 or not editors:
                raise BenchError("--replace takes one RUN:EDITOR,EDITOR, naming the editors it supersedes")
            changed = replace(args.target, run, editors)
            print(f"{args.target}: {', '.join(editors)} replaced by {run}; {len(changed)} per-case values changed")
            return 0
        editors = attach(args.target, [_source(s) for s in args.runs])
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.target}/{PACKED}: rows of {', '.join(editors)} attached")
    return 0


if __name__ == "__main__":
    sys.exit(main())
