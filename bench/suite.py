"""`bench suite`: every run behind a set of tables, at one size, resumable, with a time estimate first.

Each entry is one `bench run` into OUT/<name>; an interrupted suite is continued
by running the same command again (finished runs are skipped, an unfinished
one resumes). When the runs are done, OUT/tables/ gets every table in markdown
and LaTeX, written by the same code as `bench report --table`, and
OUT/tables/COMMANDS.md the report commands that reproduce them. An entry whose rows were packed away (as
results/ commits them) takes no more runs; editors added to it later run beside it into OUT/<name>-newer, and
every folder beside it run with its options counts as the entry's (`entry_folders`).

Suites are declared in the entry-point group `knowledge_edit_bench.suites` (a module holding SUITES, name ->
Suite); the paper's are `bench/paper/suites.py`, which this engine never imports.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from bench import checkpoints
from bench.entry_points import plugin_modules
from bench.errors import BenchError
from bench.lifecycle import ExecutorConfig, RunConfig
from bench.registry import PRESETS, parse_editor_args
from bench.resume import recorded_option
from bench.runlog import RunLog, read_summary
from bench.runner import hms, run
from bench.sources import Choice, collect, key, preferring, select
from bench.tables import layouts

logger = logging.getLogger(__name__)

SUITES_GROUP = "knowledge_edit_bench.suites"
# How each case of an entry is scored: the suite's own (Suite.options), the command line's where given. They are
# not part of an entry's identity (RUN_OPTIONS): rows scored with more views join the same tables.
SCORING_OPTIONS = ("scoring", "side_effects", "loc_unrelated", "fluency_prompts")


@dataclass(frozen=True)
class SuiteRun:
    name: str
    dataset: str
    editors: tuple[str, ...]
    tables: tuple[str, ...]
    protocol: str = "single"
    num_edits: int | None = None  # sequential: at most this many edits (capped by --limit)
    eval_every: int = 0
    batch_size: int = 1  # batch protocol: cases per edit() call (capped by --limit)
    full: bool = False  # ignore --limit (the MQuAKE test split is small: run all of it)
    editor_args: str = ""  # --editor-args of this run ({model}: the run's model folder name); the command line's win


@dataclass
class Suite:
    name: str
    runs: tuple[SuiteRun, ...]
    note: str = ""
    tables_with: str = ""  # another suite's folder whose same-named runs come first in each table (later wins)
    tables: dict[str, list[str]] = field(default_factory=dict)  # table -> run names
    options: dict = field(default_factory=dict)  # SCORING_OPTIONS of every entry (RunConfig's where not given)

    def __post_init__(self):
        unknown = sorted(set(self.options) - set(SCORING_OPTIONS))
        if unknown:
            raise BenchError(f"suite {self.name}: options {', '.join(unknown)} are not scoring options; a suite sets "
                             f"only {', '.join(SCORING_OPTIONS)} (the rest is each entry's SuiteRun)")
        for r in self.runs:
            for t in r.tables:
                self.tables.setdefault(t, []).append(r.name)


def checkpoint_args(editors: tuple[str, ...], folders: dict[str, str]) -> str:
    """--editor-args naming the checkpoint folder of each of `editors` that `folders` lists."""
    return ";".join(f"{e}:checkpoint={folders[e]}" for e in editors if e in folders)


@functools.cache
def suites() -> dict[str, Suite]:
    """Every suite declared in the entry-point group SUITES_GROUP: each entry names a module holding SUITES
    (name -> Suite). Read once per process; a module that cannot be loaded is skipped with a warning."""
    found: dict[str, Suite] = {}
    for module in plugin_modules(SUITES_GROUP, "suite module"):
        found.update(getattr(module, "SUITES", {}))
    return found


def __getattr__(name: str):
    """SUITES, as it were a module constant: the dict `suites()` reads from the entry points."""
    if name == "SUITES":
        return suites()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_suite(name: str) -> Suite:
    known = suites()
    if name not in known:
        listed = ", ".join(known) or f"none (no module is declared in the entry-point group {SUITES_GROUP})"
        raise BenchError(f"unknown suite '{name}'; suites: {listed}")
    return known[name]


# Seconds per evaluated case on this project's shared 2-core development machine (one torch thread, CounterFact
# cases), per model; used only when OUT has no timing of its own yet. smollm2-135m: from the runs under results/
# (config.json "seconds"; MeLLo: MQuAKE cases; ROME/MEMIT/PMET: the 100-case runs in results/baselines-smollm2-100/,
# with the value optimisation's prefix cache; serac: 1.68x serac-icl's time, both on 10 CounterFact cases in one run on
# 2026-12-06). ZsRE cases have fewer queries and run 1.5-3x faster.
SMOLLM2_SECONDS = {
    "noedit": 2.4, "ft-l": 10.0, "ft-m": 10.0, "lora": 8.0, "rome": 24.0, "memit": 14.0, "pmet": 14.0,
    "serac-icl": 2.0, "serac": 3.4, "ike": 3.0, "grace": 12.0, "mello": 25.0, "instructed": 3.6,
}
# gemma3-270m / smollm2-135m seconds per case, measured in one process (`python -m bench.perf.model_speed --cases 3`,
# results/perf/README.md); MeLLo was not measured (MQuAKE only) and is estimated at SmolLM2's speed. IKE: 3.94
# before prefix sharing on sliding windows, / 3.06 since (`python -m bench.perf.prefix_sharing`).
GEMMA_RATIO = {"noedit": 1.30, "ft-l": 1.45, "ft-m": 0.53, "lora": 1.01, "rome": 1.75, "memit": 2.13, "pmet": 1.73,
               "serac-icl": 1.08, "serac": 1.08, "ike": 1.29, "grace": 1.18, "instructed": 1.15}
MEASURED_CPU_SECONDS = {
    "smollm2-135m": SMOLLM2_SECONDS,
    "gemma3-270m": {e: round(s * GEMMA_RATIO.get(e, 1.0), 1) for e, s in SMOLLM2_SECONDS.items()},
}  # a model without a table is estimated with smollm2-135m's (the estimate says so)
SPEED_REFERENCE = "smollm2-135m"


def plan(suite: Suite, limit: int, skip: set[str], only: set[str] | None = None) -> list[tuple[SuiteRun, RunConfig]]:
    """The RunConfigs of the suite at `limit` cases, without skipped editors (a run left empty is dropped)."""
    out = []
    for r in suite.runs:
        if only and r.name not in only:
            continue
        editors = [e for e in r.editors if e not in skip]
        if not editors:
            continue
        n = None if r.full else limit
        num_edits = min(r.num_edits, limit) if r.num_edits else None
        cfg = RunConfig(editors=editors, dataset=r.dataset, out="", protocol=r.protocol, limit=n,
                        num_edits=num_edits, eval_every=min(r.eval_every, num_edits or 0),
                        batch_size=min(r.batch_size, n) if n else r.batch_size)
        out.append((r, cfg))
    return out


def speed_table(model: str) -> dict[str, float]:
    return MEASURED_CPU_SECONDS.get(model, MEASURED_CPU_SECONDS[SPEED_REFERENCE])


def seconds_per_case(editor: str, measured: dict[str, float], model: str = SPEED_REFERENCE) -> float:
    base = PRESETS.get(editor, (editor,))[0]  # a preset runs at its base editor's speed
    return measured.get(editor) or measured.get(base) or speed_table(model).get(base, 10.0)


def measured_speeds(out: Path) -> dict[str, float]:
    """Editor -> seconds per case measured by earlier (partial) runs of this suite in OUT (per case, not per
    unit: a batch run's one unit holds all its cases)."""
    speeds: dict[str, list[float]] = {}
    for config in out.glob("*/config.json"):
        timed = {n: seconds for n, seconds in recorded_seconds(config.parent).items() if seconds}
        cases = covered_cases(config.parent) if timed else {}
        for name, seconds in timed.items():
            if cases.get(name):
                speeds.setdefault(name, []).append(seconds / cases[name])
    return {name: sum(v) / len(v) for name, v in speeds.items()}


def estimate(runs: list[tuple[SuiteRun, RunConfig]], counts: dict[str, int], measured: dict[str, float],
             covered: dict[str, dict[str, int]], spent: dict[str, dict[str, float]],
             model: str = SPEED_REFERENCE) -> list[tuple]:
    """(run, editor, cases, seconds still to spend, seconds recorded) for every editor of every run; `covered`:
    run -> the cases each editor's summary covers (`covered_cases`). A finished editor costs 0 and shows what its
    config.json records; an interrupted one costs its cases still to run."""
    rows = []
    for r, cfg in runs:
        n = counts[r.name]
        extra = 0
        if r.protocol == "sequential" and cfg.eval_every:
            extra = sum(range(cfg.eval_every, n + 1, cfg.eval_every))  # cases re-scored at each eval@K
        for editor in cfg.editors:
            left = max(0, n - covered.get(r.name, {}).get(editor, 0))  # an interrupted editor resumes
            cost = seconds_per_case(editor, measured, model) * left + extra * left / n * speed_table(model)["noedit"]
            rows.append((r.name, editor, n, cost if left else 0.0,
                         0.0 if left else spent.get(r.name, {}).get(editor, 0.0)))
    return rows


def _seconds_in(folders: list[Path]) -> dict[str, float]:
    """Editor -> seconds recorded for it in an entry's folders (the entry's own first)."""
    seconds: dict[str, float] = {}
    for folder in folders:
        for editor, s in recorded_seconds(folder).items():
            seconds.setdefault(editor, s)
    return seconds


def recorded_seconds(run_dir: Path) -> dict[str, float]:
    """Editor -> seconds its config.json records (summed over resumed starts and merged pieces)."""
    path = run_dir / "config.json"
    editors = json.loads(path.read_text()).get("editors", {}) if path.exists() else {}
    return {name: float(e.get("seconds") or 0.0) for name, e in editors.items()}


# The options two folders of an entry must share for one's finished editors to count as the other's.
RUN_OPTIONS = ("dataset", "protocol", "limit", "num_edits", "eval_every", "batch_size", "model")


def folder_config(folder: Path) -> dict:
    """A run folder's config.json ({} without one)."""
    return (RunLog(folder).read_config() or {}) if (folder / "config.json").exists() else {}


def entry_folders(root: Path, name: str, args: dict, entries: set[str]) -> list[Path]:
    """OUT/<name>, then the folders beside it named <name>-... (no entry of the suite) that were run with the
    entry's options (`args`, as config.json records them) and its --editor-args for each editor they hold. An entry
    that packed its rows away cannot take more editors (a run into it is refused), so editors added later live
    beside it (counterfact-newer); they count as the entry's in its coverage and tables. A variant run with other
    editor arguments (zsre-sequential-wise-shard10: wise:save_freq=10) does not."""
    own = parse_editor_args(args.get("editor_args"))
    found = [root / name]
    for folder in sorted(root.glob(f"{name}-*")):
        config = folder_config(folder) if folder.is_dir() and folder.name not in entries else {}
        theirs = config.get("args", {})
        if not theirs or any(theirs.get(k) != args.get(k) for k in RUN_OPTIONS):
            continue
        given = parse_editor_args(theirs.get("editor_args"))
        if all(given.get(e, {}) == own.get(e, {}) for e in config.get("editors", {})):
            found.append(folder)
    return found


def writable_folder(root: Path, name: str, scoring: dict | None = None) -> Path:
    """Where an entry's editors still to run go: OUT/<name>, or, once it has packed its rows away (summary.csv
    without cases.jsonl) or was run with other `scoring` options (a resume would be refused), the first of
    <name>-newer, <name>-newer-2, ... that takes them or does not exist."""
    candidates = [name, f"{name}-newer"] + [f"{name}-newer-{i}" for i in range(2, 100)]
    for candidate in candidates:
        folder = root / candidate
        packed = (folder / "summary.csv").exists() and not (folder / "cases.jsonl").exists()
        args = folder_config(folder).get("args")
        same = not args or all(recorded_option(args, k) == v for k, v in (scoring or {}).items())
        if same and not packed:
            return folder
    raise BenchError(f"{root}: {name} and 99 folders beside it take no more runs; choose another --out")


def covered_in(folders: list[Path]) -> dict[str, int]:
    """Editor -> the most cases any of an entry's folders covers (`covered_cases`)."""
    covered: dict[str, int] = {}
    for folder in folders:
        for editor, n in covered_cases(folder).items():
            covered[editor] = max(covered.get(editor, 0), n)
    return covered


def covered_cases(run_dir: Path) -> dict[str, int]:
    """Editor -> cases done: a finished editor's summary row; an editor stopped part-way, which has no summary row,
    its case ids in cases.jsonl. Committed runs keep summary.csv (their cases.jsonl may be packed,
    bench/packed_rows.py)."""
    path = run_dir / "summary.csv"
    covered: dict[str, int] = {}
    for r in read_summary(path) if path.exists() else []:
        covered[r["editor"]] = max(covered.get(r["editor"], 0), int(r["n_cases"]))
    ids: dict[str, set] = {}
    for row in RunLog(run_dir).rows() if (run_dir / "cases.jsonl").exists() else []:
        if row["editor"] not in covered:
            ids.setdefault(row["editor"], set()).add(row["case_id"])
    return covered | {editor: len(cases) for editor, cases in ids.items()}


def print_estimate(rows: list[tuple], measured: dict[str, float], model: str = SPEED_REFERENCE) -> float:
    total, spent = sum(r[3] for r in rows), sum(r[4] for r in rows)
    width = max([22] + [len(r[1]) for r in rows])  # the longest editor name keeps the columns aligned
    print(f"{'run':30s} {'editor':{width}s} {'cases':>6s} {'estimate':>10s} {'took':>8s}", file=sys.stderr)
    for run_name, editor, n, seconds, took in rows:
        when = "done" if seconds == 0 else hms(seconds)
        print(f"{run_name:30s} {editor:{width}s} {n:6d} {when:>10s} {hms(took) if took else '':>8s}",
              file=sys.stderr)
    table = model if model in MEASURED_CPU_SECONDS else f"{SPEED_REFERENCE}'s (none measured for {model})"
    source = "speeds measured in OUT" if measured else f"{table} speeds on a 2-core CPU machine (bench/suite.py)"
    print(f"estimated time still to run: {hms(total)} ({source}; a GPU is much faster)", file=sys.stderr)
    if spent:
        print(f"time the finished editors took: {hms(spent)} (config.json 'seconds'; pieces run in parallel "
              "overlap)", file=sys.stderr)
    return total


def run_suite(suite_name: str, out: str, limit: int, skip: set[str], only: set[str] | None = None,
              dry_run: bool = False, base: RunConfig | None = None, executor: ExecutorConfig | None = None,
              scoring: dict | None = None) -> int:
    """Estimate, then run what is not finished (resuming), then write the tables. Returns failed run count.
    On Ray every unfinished run is scheduled at once (the cluster is filled by the whole suite). `scoring`: the
    SCORING_OPTIONS given on the command line, over the suite's own."""
    from bench.data import load_dataset

    suite = get_suite(suite_name)
    if limit < 1:
        raise BenchError(f"--limit must be >= 1, got {limit}")
    root = Path(out)
    base = replace(base or RunConfig(editors=[], dataset="", out=""), **{**suite.options, **(scoring or {})})
    logger.info("suite %s scores each case with %s", suite.name,
                ", ".join(f"{k}={getattr(base, k)}" for k in SCORING_OPTIONS))
    runs = plan(suite, limit, skip, only)
    counts = {r.name: len(load_dataset(r.dataset, base.data_dir, cfg.num_edits or cfg.limit)) for r, cfg in runs}
    entries = {r.name for r in suite.runs}
    folders = {r.name: entry_folders(root, r.name, _planned_args(r, cfg, base), entries) for r, cfg in runs}
    covered = {name: covered_in(f) for name, f in folders.items()}
    done = {r.name: {e for e, n in covered[r.name].items() if n >= counts[r.name]} for r, _ in runs}
    measured = measured_speeds(root) if root.exists() else {}
    spent = {name: _seconds_in(f) for name, f in folders.items()}
    print_estimate(estimate(runs, counts, measured, covered, spent, base.model), measured, base.model)
    if dry_run:
        return 0
    todo = [(r, _run_config(r, cfg, base, root, [e for e in cfg.editors if e not in done[r.name]]))
            for r, cfg in runs if not set(cfg.editors) <= done[r.name]]
    executor = executor or ExecutorConfig()
    if executor.name == "ray":
        from bench.ray_executor import run_on_ray

        failed = len(run_on_ray([cfg for _, cfg in todo], executor))
    else:
        failed = sum(not _run_one(r, cfg) for r, cfg in todo)
    write_tables(suite, root)
    return failed


def _planned_args(r: SuiteRun, planned: RunConfig, base: RunConfig) -> dict:
    """The entry's options as config.json's `args` records them."""
    return {**{k: getattr(planned, k) for k in RUN_OPTIONS if k != "model"}, "model": base.model,
            "editor_args": _editor_args(r, base)}


def _run_config(r: SuiteRun, planned: RunConfig, base: RunConfig, root: Path, editors: list[str]) -> RunConfig:
    """The entry's editors still to run, in OUT/<name> or the folder beside it that takes them (writable_folder)."""
    target = writable_folder(root, r.name, {k: getattr(base, k) for k in SCORING_OPTIONS})
    if target.name != r.name:
        logger.info("%s takes no more runs (rows packed away, or scored otherwise): %s run into %s beside it",
                    r.name, ", ".join(editors), target)
    return RunConfig(**{**vars(base), "editors": editors, "dataset": planned.dataset,
                        "protocol": planned.protocol, "limit": planned.limit, "num_edits": planned.num_edits,
                        "eval_every": planned.eval_every, "batch_size": planned.batch_size,
                        "editor_args": _editor_args(r, base), "out": str(target),
                        "resume": (target / "cases.jsonl").exists()})


def _run_one(r: SuiteRun, cfg: RunConfig) -> bool:
    """One entry in this process; False (logged) when it failed: the suite goes on with the next."""
    logger.info("%s: %s on %s (%s)", r.name, ", ".join(cfg.editors), cfg.dataset, cfg.protocol)
    started = time.time()
    try:
        run(cfg)
        return True
    except BenchError as exc:
        logger.error("%s failed, going on with the next run: %s", r.name, exc)
        return False
    finally:
        logger.info("%s: %s", r.name, hms(time.time() - started))


def _editor_args(r: SuiteRun, base: RunConfig) -> str | None:
    own = r.editor_args.replace("{model}", checkpoints.model_dir_name(base.model))
    return ";".join(a for a in (own, base.editor_args) if a) or None


# (locality definition, format, extension, intervals) of each table file: the strict Loc in <table>.md/.tex,
# the paper's definition for every editor in <table>-loc-paper.md.
TABLE_FILES = (("strict", "markdown", "md", True), ("strict", "latex", "tex", False), ("paper", "markdown", "md", True))


def _with_beside(root: Path, name: str, entries: set[str]) -> list[Path]:
    """An entry's folders that hold summaries: OUT/<name> and those beside it with its options (entry_folders)."""
    if not (root / name / "summary.csv").exists():
        return []
    args = folder_config(root / name).get("args", {})
    return [d for d in entry_folders(root, name, args, entries) if (d / "summary.csv").exists()]


def below_cwd(path: Path) -> Path:
    """`path` relative to the working directory when it lies below it, so that COMMANDS.md and the explorer's
    folder names hold no machine's absolute paths when --out was given as one."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()) if path.is_absolute() else path
    except ValueError:
        return path


def _from(choices) -> str:
    return "".join(f" --from {c.spec()}" for c in choices)


def _page_choices(suite: Suite, records: list[dict], under: Path | None, per_table: dict,
                  entry_of: dict[str, str]) -> list[Choice]:
    """The explorer's sources: for its summary and case browser one run per row, the suite's own over tables_with's,
    then an entry that runs the editor as it is over one that gives it arguments of its own (Table 4's control is
    `instructed` with another checkpoint), then the entry more tables use; and, scoped to a table, the run its
    table file shows where the page would show another (`per_table`: each table's summary records and choices;
    `entry_of`: the entry each run folder holds runs of, the folders beside an entry included)."""
    own_args = {r.name: set(parse_editor_args(r.editor_args)) for r in suite.runs}
    uses = {r.name: sum(r.name in names for names in suite.tables.values()) for r in suite.runs}

    def rank(run: str, editor: str) -> tuple:
        name = entry_of[run]
        return Path(run).parent != under, editor not in own_args.get(name, ()), uses.get(name, 0)

    page = preferring(records, rank)
    shown = {key(r): r["run"] for r in select(records, page)}
    scoped: dict[tuple[str, str], list[str]] = {}
    for table, (table_records, choices) in per_table.items():
        for rec in select(table_records, choices, table=table):
            if shown.get(key(rec), rec["run"]) != rec["run"]:
                scoped.setdefault((table, rec["run"]), []).append(rec["editor"])
    return page + [Choice(tuple(dict.fromkeys(eds)), run, table) for (table, run), eds in scoped.items()]


def write_tables(suite: Suite, root: Path) -> list[Path]:
    """OUT/tables/<table>.md (with intervals) and .tex, <table>-loc-paper.md, and the `bench report` commands
    that remake them; OUT/explorer.html, every run of the suite in one page."""
    from bench.explorer import report_html
    from bench.report import report

    root = below_cwd(root)
    under = below_cwd(Path(suite.tables_with)) if suite.tables_with else None
    tables, commands, written, per_table = root / "tables", [], [], {}
    tables.mkdir(parents=True, exist_ok=True)
    entries = {r.name for r in suite.runs}
    folders = ([under] if under else []) + [root]  # as the tables: later wins
    beside = {(f, name): _with_beside(f, name, entries) for f in folders for name in entries}  # read once
    for name in layouts():
        dirs = [str(d) for r in suite.tables.get(name, []) for d in beside[(root, r)]]
        if not dirs:
            continue
        first = [d for r in suite.tables.get(name, []) if under for d in beside[(under, r)]]
        dirs = [str(d) for d in first] + dirs
        table_records = collect(dirs)
        choices = preferring(table_records, lambda d, _: not under or Path(d).parent != under)  # suite's own rows
        per_table[name] = (table_records, choices)
        for loc, fmt, ext, ci in TABLE_FILES:
            try:
                text = report(dirs, fmt, ci, table=name, loc=loc, choices=choices)
            except BenchError as exc:
                logger.warning("%s: %s", name, exc)
                break
            path = tables / (f"{name}.{ext}" if loc == "strict" else f"{name}-loc-{loc}.{ext}")
            path.write_text(text)
            written.append(path)
            flags = f"--table {name} --format {fmt}" + (" --ci" if ci else "") + (f" --loc {loc}" if loc != "strict"
                                                                                    else "")
            commands.append(f"python -m bench report {' '.join(dirs)} {flags}{_from(choices)} --output {path}")
    runs = [str(d) for f in folders for r in suite.runs for d in beside[(f, r.name)]]
    shown = sorted({p.stem.split("-loc-")[0] for p in written})
    if runs:  # the whole suite in one page: tables, figures, case browser (bench/explorer.py)
        entry_of = {str(d): name for (_, name), dirs in beside.items() for d in dirs}
        choices = _page_choices(suite, collect(runs), under, per_table, entry_of)
        page = report_html(runs, str(root / "explorer.html"), shown, choices=choices)
        written.append(page)
        commands.append(f"python -m bench report {' '.join(runs)} --format html"
                        + (f" --table {','.join(shown)}" if shown else "") + f"{_from(choices)} --out {page}")
    (tables / "COMMANDS.md").write_text("# Commands that regenerate these tables byte for byte\n\n```\n"
                                        + "\n".join(commands) + "\n```\n")
    return written
