"""Command line: `python -m bench run|suite|train|report|merge|list` (docs/architecture.md, section 6)."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench.errors import BenchError


def _run_parser(sub) -> None:
    p = sub.add_parser("run", help="edit and evaluate: one or more editors on one dataset")
    p.add_argument("--editors", required=True, help="comma-separated editor names (see `list editors`)")
    p.add_argument("--dataset", required=True, help="dataset name or NAME:PATH (see `list datasets`)")
    p.add_argument("--model", default="smollm2-135m", help="alias, hub id or local directory")
    p.add_argument("--protocol", default="single", choices=["single", "batch", "sequential"])
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--num-edits", type=int, default=None, help="sequential: number of edits (first N cases)")
    p.add_argument("--eval-every", type=int, default=0, help="sequential: evaluate all edited cases every K edits")
    p.add_argument("--limit", type=int, default=None, help="first N cases of the dataset")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None, help="data root (default: $BENCH_DATA_DIR, then ../shared/data)")
    p.add_argument("--out", default="runs/latest", help="run directory")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--dtype", default="float32", help="float32, bfloat16 or float16")
    p.add_argument("--editor-args", default=None, help="'rome:layers=5;instructed:mode=retrieval'")
    p.add_argument("--encoder", default="all-MiniLM-L6-v2",
                   help="sentence encoder for retrieval editors: an offline alias, a sentence-transformers model "
                   "folder, or (with --allow-hub) a hub id")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% intervals")
    p.add_argument("--resume", action="store_true", help="continue a killed run in --out")
    p.add_argument("--allow-hub", action="store_true",
                   help="download a --model or --encoder that is not offline from the Hugging Face hub "
                        "(never tried otherwise)")


def _cmd_run(args) -> int:
    from bench.runner import RunConfig, run

    cfg = RunConfig(
        editors=[e for e in args.editors.split(",") if e.strip()], dataset=args.dataset, out=args.out,
        model=args.model, protocol=args.protocol, batch_size=args.batch_size, num_edits=args.num_edits,
        eval_every=args.eval_every, limit=args.limit, seed=args.seed, data_dir=args.data_dir, device=args.device,
        dtype=args.dtype, editor_args=args.editor_args, resume=args.resume, bootstrap=args.bootstrap,
        encoder=args.encoder, allow_hub=args.allow_hub,
    )
    out = run(cfg)
    print((out / "summary.csv").read_text(), end="")
    print(f"[bench] results in {out}", file=sys.stderr)
    return 0


def _suite_parser(sub) -> None:
    p = sub.add_parser("suite", help="run every run behind the paper's tables (resumable), then write the tables")
    p.add_argument("--name", default="paper", help="which suite: paper (every table) or baselines (default: paper)")
    p.add_argument("--limit", type=int, default=200, help="cases per CounterFact/ZsRE run (sequential: edits)")
    p.add_argument("--out", default="runs/suite", help="suite directory (one run directory per entry)")
    p.add_argument("--skip", default="", help="comma-separated editors to leave out, e.g. mello,ft-l")
    p.add_argument("--only", default="", help="comma-separated run names of the suite to do (default: all)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and time estimate only")
    for flag, default in (("--model", "smollm2-135m"), ("--device", "auto"), ("--data-dir", None)):
        p.add_argument(flag, default=default)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--allow-hub", action="store_true",
                   help="download a --model or --encoder that is not offline from the Hugging Face hub "
                        "(never tried otherwise)")


def _cmd_suite(args) -> int:
    from bench.runner import RunConfig
    from bench.suite import run_suite

    base = RunConfig(editors=[], dataset="", out="", model=args.model, device=args.device, data_dir=args.data_dir,
                     seed=args.seed, allow_hub=args.allow_hub)
    skip, only = set(_names(args.skip)), set(_names(args.only))
    failed = run_suite(args.name, args.out, args.limit, skip, only or None, args.dry_run, base)
    if failed:
        print(f"[suite] {failed} run(s) failed; fix the cause and rerun the same command to resume", file=sys.stderr)
    return 1 if failed else 0


def _names(text: str | None) -> list[str]:
    """A comma-separated option value as its names, in order, blanks dropped."""
    return [x.strip() for x in (text or "").split(",") if x.strip()]


def _cmd_merge(args) -> int:
    from bench.merge import merge

    note = merge(args.source, args.into, _names(args.editors) or None)
    print(f"[bench] merged {note['rows']} rows of {', '.join(note['editors'])} from {args.source} into {args.into}; "
          "summary.csv and per_case.csv rewritten", file=sys.stderr)
    return 0


def _cmd_report(args) -> int:
    from bench.report import report

    text = report(args.run_dirs, args.format, args.ci, args.plots, args.table, args.loc)
    if args.output:
        with open(args.output, "w") as fh:
            fh.write(text)
    print(text, end="")
    return 0


def _cmd_list(args) -> int:
    if args.what == "editors":
        from bench.registry import ALIASES, EDITORS, PRESETS

        for name in EDITORS:
            aliases = [a for a, t in ALIASES.items() if t == name]
            print(f"{name}" + (f"  (aliases: {', '.join(aliases)})" if aliases else ""))
        for name, (base, args) in PRESETS.items():
            print(f"{name}  (preset: {base} with {', '.join(f'{k}={v}' for k, v in args.items())})")
    elif args.what == "datasets":
        from bench.data import DATASETS

        for name, info in DATASETS.items():
            print(f"{name:30s} {info.description}")
    else:
        from bench.models import known_models

        for name, desc in known_models().items():
            print(f"{name:15s} {desc}")
        print("(or any hub id / local transformers directory)")
    return 0


def _cmd_train(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        raise BenchError("usage: python -m bench train EDITOR [options]; trainable editors: instructed, serac")
    from bench.registry import canonical_name, get_editor_class

    name = canonical_name(argv[0])
    package = sys.modules[get_editor_class(name).__module__].__package__  # an editor's training: <package>.train
    try:
        module = importlib.import_module(f"{package}.train")
    except ModuleNotFoundError as exc:
        if exc.name != f"{package}.train":
            raise
        raise BenchError(f"editor '{name}' has no training (only instructed and serac are trained)") from exc
    return int(module.main(argv[1:]) or 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Knowledge-editing benchmark harness")
    parser.add_argument("--debug", action="store_true",
                        help="print the full traceback of an unexpected error (default: one line and a file)")
    level = parser.add_mutually_exclusive_group()
    level.add_argument("-v", "--verbose", action="store_true", help="also log debug messages")
    level.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True)
    _run_parser(sub)
    _suite_parser(sub)
    rp = sub.add_parser("report", help="render a results table from run directories")
    rp.add_argument("run_dirs", nargs="+")
    rp.add_argument("--format", default="markdown", choices=["markdown", "latex", "csv"])
    rp.add_argument("--ci", action="store_true", help="add the 95%% bootstrap interval to each cell")
    rp.add_argument("--plots", default=None, help="also write bar charts across all runs into this directory")
    rp.add_argument("--output", default=None, help="also write the table to this file")
    rp.add_argument("--table", default=None, help="a paper layout: table2, table3, table4, table9, table10, table12")
    rp.add_argument("--loc", default="strict", choices=["strict", "paper", "asymmetric"],
                    help="locality in the Loc column (and Score/H): strict = agreement with the unedited model on "
                         "the plain prompt (default); paper = max of that, agreement with the unedited model on "
                         "the prompt the editor saw, and the gold answer, for every editor; asymmetric = the "
                         "paper's asymmetric protocol: paper definition for InstructEd rows only, strict for the rest")
    mp = sub.add_parser("merge", help="fold the rows of a run made in parallel into another run directory")
    mp.add_argument("source", help="run directory whose rows are added")
    mp.add_argument("--into", required=True, help="run directory that receives them and is re-summarised")
    mp.add_argument("--editors", default=None, help="comma-separated editors of the source (default: all)")
    lp = sub.add_parser("list", help="list editors, datasets or models")
    lp.add_argument("what", choices=["editors", "datasets", "models"])
    sub.add_parser("train", help="train an editor: python -m bench train EDITOR [options]", add_help=False)
    return parser


# Flags taken out of argv wherever they stand (before or after the command, also for `bench train`).
VERBOSE, QUIET = ("-v", "--verbose"), ("-q", "--quiet")
GLOBAL_FLAGS = ("--debug", *VERBOSE, *QUIET)


def _log_level(argv: list[str]) -> int | None:
    """The level of the bench and editors loggers: INFO, DEBUG with -v/--verbose, WARNING with -q/--quiet
    (None: both given)."""
    verbose, quiet = any(a in VERBOSE for a in argv), any(a in QUIET for a in argv)
    if verbose and quiet:
        return None
    return logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("BENCH_DEBUG") == "1"
    level = _log_level(argv)
    if level is None:
        print("error: -v/--verbose and -q/--quiet exclude each other", file=sys.stderr)
        return 2
    argv = [a for a in argv if a not in GLOBAL_FLAGS]
    logging.basicConfig(level=logging.WARNING, format="[%(name)s] %(message)s", stream=sys.stderr)
    for package in ("bench", "editors"):  # our messages; libraries keep their own level
        logging.getLogger(package).setLevel(level)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        if argv and argv[0] == "train":
            return _cmd_train(argv[1:])
        args = build_parser().parse_args(argv)
        commands = {"run": _cmd_run, "suite": _cmd_suite, "report": _cmd_report, "list": _cmd_list,
                    "merge": _cmd_merge}
        return commands[args.command](args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        why = exc.args[0] if exc.args else "interrupted"
        print(f"{why}: results written so far are kept; rerun with --resume to continue", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, the traceback in a file
        if debug:
            raise
        path = _write_traceback()
        print(f"error: unexpected {exc.__class__.__name__}: {exc}. This is a bug or an input the harness does not "
              f"check yet; the full traceback is in {path} (rerun with --debug to print it). Results written so far "
              "are kept.", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum, frame) -> None:
    """SIGTERM stops like Ctrl-C: the unit in flight is dropped, everything written stays (and the time spent)."""
    raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")


def _write_traceback() -> Path:
    folder = Path(tempfile.gettempdir()) / "knowledge-edit-bench"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"traceback-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
    path.write_text(f"command: {' '.join(sys.argv)}\n\n{traceback.format_exc()}")
    return path
