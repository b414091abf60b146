"""The run lifecycle both executors share (this process: bench/runner.py; Ray workers: bench/ray_executor.py):
check the command and open the run directory, check it against the loaded model, write config.json, begin and end
each editor, append units, summarise and close. Neither executor imports the other."""

from __future__ import annotations

import json
import logging
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from importlib import metadata
from pathlib import Path

import torch

from bench import sequential_state
from bench.answers import SCORINGS
from bench.data import load_dataset, resolve_data_dir
from bench.data.schema import NHOP, REL, EditCase
from bench.data.validate import check_context, context_length
from bench.editor import Editor, Resources, check_supported
from bench.errors import BenchError
from bench.lifelong import make_plan, options_from
from bench.models import check_device_name, resolve_dtype
from bench.plots import bar_charts, curve_plots
from bench.probes import ProbeConfig, with_probes
from bench.protocols import ProtocolConfig, sequential_plan
from bench.registry import (
    build_config,
    canonical_name,
    check_config_for_model,
    get_editor_class,
    parse_editor_args,
)
from bench.resume import LEGACY_OPTIONS, check_editor_resume, recorded_option, stamp
from bench.retention import EditorRows, evaluation_work, write_lifelong
from bench.runlog import CASES_FORMAT, RunLog, finished_editors
from bench.summary import per_case, sequential_curve, summarize

logger = logging.getLogger(__name__)

EXPLORER = "explorer.html"  # each run directory's page (bench/explorer.py)


@dataclass(frozen=True)
class ExecutorConfig:
    """Where a run's editors execute: this process (local) or a Ray cluster (bench/ray_executor.py)."""

    name: str = "local"  # local | ray
    address: str | None = None  # ray: a cluster to join; None: RAY_ADDRESS, else a local Ray is started
    workers: int | None = None  # ray: actors; None: as many as the cluster's CPUs (GPUs) allow
    worker_cpus: float = 1.0
    worker_gpus: float = 0.0  # fractional: several small-model workers share one GPU

    def __post_init__(self):
        if self.name not in ("local", "ray"):
            raise BenchError(f"unknown --executor '{self.name}'; use local (this process) or ray")
        if self.name == "local" and (self.address or self.workers or self.worker_gpus or self.worker_cpus != 1):
            raise BenchError("--ray-address, --workers, --worker-cpus and --worker-gpus only apply to --executor ray")
        if (self.workers is not None and self.workers < 1) or self.worker_cpus <= 0 or self.worker_gpus < 0:
            raise BenchError(f"--workers must be >= 1, --worker-cpus > 0 and --worker-gpus >= 0 (got {self.workers}, "
                             f"{self.worker_cpus}, {self.worker_gpus})")

    def record(self) -> dict:
        return {"name": self.name} if self.name == "local" else asdict(self)


@dataclass
class RunConfig:
    editors: list[str]
    dataset: str
    out: str
    model: str = "smollm2-135m"
    protocol: str = "single"
    batch_size: int = 1
    num_edits: int | None = None
    eval_every: int = 0
    eval_points: list[int] | None = None  # sequential: evaluate after these edit counts (bench/lifelong.py)
    eval_sample: int | None = None  # sequential: earlier edits scored per point; None auto, 0 full evaluation
    eval_recent: int | None = None  # sequential, sampled: the newest edits scored at every point
    eval_panel: int | None = None  # sequential, sampled: the locality panel's cases
    limit: int | None = None
    seed: int = 0
    data_dir: str | None = None
    device: str = "auto"
    dtype: str = "float32"
    editor_args: str | None = None
    resume: bool = False
    bootstrap: int = 1000
    encoder: str = "all-MiniLM-L6-v2"
    allow_hub: bool = False  # a --model or --encoder that is not offline may be downloaded from the hub
    scoring: str = "both"  # tf | gen | both: teacher-forced and/or generated answers (bench/answers.py)
    side_effects: bool = True  # NKL, distracting neighbours, bleed-over, fluency, perplexity drift
    loc_unrelated: int = 5  # unrelated-prompt locality probes per case (bench/probes.py; 0: none)
    fluency_prompts: int = 0  # fluency prompts per case, with side effects (0: none; 100 generated tokens each)

    def probes(self) -> ProbeConfig:
        return ProbeConfig(self.loc_unrelated, self.side_effects, self.fluency_prompts if self.side_effects else 0)

    @classmethod
    def recorded(cls, args: dict) -> RunConfig:
        """The configuration config.json's `args` record; options a run predates as it ran them (LEGACY_OPTIONS),
        fields a config has that this version does not know left out."""
        return cls(**{f.name: recorded_option(args, f.name) for f in fields(cls)
                      if f.name in args or f.name in LEGACY_OPTIONS})


def validate(cfg: RunConfig) -> None:
    if cfg.protocol not in ("single", "batch", "sequential"):
        raise BenchError(f"unknown --protocol '{cfg.protocol}'; use single, batch or sequential")
    if cfg.protocol == "batch" and cfg.batch_size < 2:
        raise BenchError("--protocol batch needs --batch-size N with N >= 2 (N = 1 is the single protocol)")
    if cfg.protocol != "batch" and cfg.batch_size != 1:
        raise BenchError(f"--batch-size only applies to --protocol batch (got --protocol {cfg.protocol})")
    lifelong = (cfg.eval_points, cfg.eval_sample, cfg.eval_recent, cfg.eval_panel)
    if cfg.protocol != "sequential" and (cfg.num_edits or cfg.eval_every or any(v is not None for v in lifelong)):
        raise BenchError("--num-edits, --eval-every, --eval-points, --eval-sample, --eval-recent and --eval-panel "
                         "only apply to --protocol sequential")
    if cfg.eval_every < 0 or (cfg.num_edits is not None and cfg.num_edits < 1):
        raise BenchError("--num-edits must be >= 1 and --eval-every >= 0")
    if not cfg.editors:
        raise BenchError("--editors is empty; name at least one editor (see `python -m bench list editors`)")
    check_device_name(cfg.device)  # an unknown device or dtype is refused now, not when the model loads
    resolve_dtype(cfg.dtype)
    if cfg.seed < 0:
        raise BenchError(f"--seed {cfg.seed}: seeds are numbers >= 0 (numpy's generators refuse negative ones)")
    if cfg.bootstrap < 0:
        raise BenchError(f"--bootstrap {cfg.bootstrap}: the number of bootstrap resamples must be >= 0 (0: no "
                         "intervals; the default 1000)")
    if cfg.scoring not in SCORINGS:
        raise BenchError(f"--scoring {cfg.scoring!r}: use tf (teacher forcing, the paper's protocol), gen (generated "
                         "answers) or both")
    cfg.probes()  # refuses negative counts
    if cfg.limit is not None and cfg.limit < 1:
        raise BenchError(f"--limit {cfg.limit}: the number of cases to evaluate must be >= 1; leave --limit out to "
                         "evaluate the whole dataset")


@dataclass
class OpenRun:
    """A run whose directory is locked (and, on --resume, cleared of units cut short), before any model loads."""

    cfg: RunConfig
    log: RunLog
    cases: list[EditCase]
    names: list[str]
    classes: dict
    configs: dict
    earlier: dict[str, dict]  # editor records of earlier starts (resume): their `seconds` then sum the whole cost
    row_stamps: dict[str, dict] = field(default_factory=dict)  # resume without config.json: each editor's rows' record


@dataclass(frozen=True)
class ModelCheck:
    """What checking the run against its loaded model gives: config.json's model record and each editor's
    configuration as resolved on that model (what a unit's `written_with` digests)."""

    model: dict
    editor_configs: dict[str, dict]


def open_run(cfg: RunConfig, cases: list[EditCase] | None = None) -> OpenRun:
    """Check the command, load the cases and lock the run directory: everything that needs no model."""
    validate(cfg)
    names, classes, configs = editor_setup(cfg)
    limit = cfg.num_edits if cfg.protocol == "sequential" and cfg.num_edits else cfg.limit
    if cases is None:
        if cfg.loc_unrelated:  # the unrelated prompts come from the whole file: read it once
            pool = load_dataset(cfg.dataset, cfg.data_dir)
            cases = pool[:limit]
        else:
            cases, pool = load_dataset(cfg.dataset, cfg.data_dir, limit), []
    else:
        cases = pool = _given_cases(cases, limit)
    if not cases:
        raise BenchError(f"dataset '{cfg.dataset}' gave no cases")
    cases = with_probes(cases, pool, cfg.probes())
    if cfg.protocol == "sequential":
        make_plan(len(cases), cfg.eval_every, options_from(cfg), cfg.seed)  # its options are refused now, if at all
    cfg.out = str(Path(cfg.out).expanduser()) if cfg.out else cfg.out  # "~/runs" given in quotes, or from Python
    log = RunLog(Path(cfg.out))
    log.prepare(cfg.resume, tuple(names))
    try:
        previous, stamps = log.config_for_resume({**asdict(cfg), "editors": names}) if cfg.resume else (None, {})
    except BenchError:
        log.close()
        raise
    return OpenRun(cfg, log, cases, names, classes, configs, previous.get("editors", {}) if previous else {}, stamps)


def _given_cases(cases, limit: int | None) -> list[EditCase]:
    """The first `limit` of a list of cases, checked as the loaders check a file's (bench/data/loaders.py)."""
    if limit is not None and limit < 0:
        raise BenchError(f"limit must be a non-negative number of cases, got {limit}")
    cases = list(cases)[:limit]
    seen: set[str] = set()
    for i, case in enumerate(cases):
        if not isinstance(case, EditCase):
            raise BenchError(f"case {i} is a {type(case).__name__}, not a bench.data.EditCase")
        if not case.of_kind(REL):
            raise BenchError(f"case {i} ('{case.case_id}') has no reliability (edit prompt) query")
        if case.case_id in seen:
            raise BenchError(f"case {i}: duplicate case_id '{case.case_id}' (runs resume and summarise by case id)")
        seen.add(case.case_id)
    return cases


def check_with_model(opened: OpenRun, lm) -> ModelCheck:
    """Refuse editor/model combinations and a resume with other settings; the model's record for config.json."""
    cfg, configs = opened.cfg, {}
    for n in opened.names:
        check_supported(opened.classes[n], lm, cfg.protocol)
        check_config_for_model(n, opened.configs[n], lm)
        resolved = opened.configs[n].resolved(lm, cfg.seed, opened.classes[n], cfg.protocol)  # as recorded
        configs[n] = json.loads(json.dumps(resolved_config(n, resolved), default=str))
        earlier = opened.earlier.get(n) or {}
        check_editor_resume(opened.log.out / "config.json", n, earlier, configs[n],
                            resolved_config(n, opened.configs[n]), resolved.unrecorded(earlier.get("config", {})))
        _check_row_stamp(opened, n, stamp(asdict(cfg), str(lm.device), configs[n]))
    check_context(opened.cases, lm.tokenizer, context_length(lm.model.config), cfg.dataset)
    model = {"name": cfg.model, "model_type": lm.model_type, "device": str(lm.device), "dtype": str(lm.dtype),
             "n_params": sum(p.numel() for p in lm.model.parameters())}
    return ModelCheck(model, configs)


def _check_row_stamp(opened: OpenRun, name: str, now: dict) -> None:
    """A resume without config.json: the editor's rows must have been written with this configuration."""
    before = opened.row_stamps.get(name)
    for key in ("device", "editor_config") if before else ():
        if before[key] != now[key]:
            what = "configuration (--editor-args)" if key == "editor_config" else f"device {before[key]!r}"
            raise BenchError(f"--resume: config.json of {opened.log.out} is gone, and the rows of editor {name} were "
                             f"written with another {what} than this command's. Resume with the options that made "
                             "them, or use a new --out.")


def start_run(opened: OpenRun, check: ModelCheck, executor: dict, state_dir: bool = True) -> RunState:
    """Write config.json for this start and return what every editor of the run shares. `state_dir`: sequential
    editors save their state in the run directory themselves (False: Ray workers, whose driver keeps it)."""
    cfg, log = opened.cfg, opened.log
    data_dir = resolve_data_dir(cfg.data_dir)
    states = sequential_state.states_dir(log.out) if state_dir else None
    pcfg = ProtocolConfig(cfg.protocol, cfg.batch_size, cfg.eval_every, cfg.seed,
                          _generation_prefix(opened.cases, data_dir), state_dir=states, scoring=cfg.scoring,
                          side_effects=cfg.side_effects, evaluation=options_from(cfg))
    config = _config_record(cfg, opened.cases, check.model)
    if cfg.protocol == "sequential":
        config["evaluation_plan"] = sequential_plan(len(opened.cases), pcfg).record()
    config["executor"] = executor
    config["editors"].update(opened.earlier)  # editors of earlier starts keep their record, also when not named
    log.write_config(config)
    meta = {"dataset": opened.cases[0].dataset, "model": cfg.model, "protocol": cfg.protocol}
    stamps = {n: stamp(asdict(cfg), check.model["device"], c) for n, c in check.editor_configs.items()}
    return RunState(cfg, log, config, opened.cases, pcfg, meta, opened.earlier, time.time(), stamps)


def resources_for(cfg: RunConfig, lm) -> Resources:
    return Resources(data_dir=resolve_data_dir(cfg.data_dir), seed=cfg.seed, encoder_name=cfg.encoder,
                     device=str(lm.device), allow_hub=cfg.allow_hub, protocol=cfg.protocol)


def build_editor(editor_cls: type[Editor], lm, config, resources: Resources, name: str,
                 cases: list[EditCase]) -> Editor:
    """An editor of the run as both executors (and the API's edited model) build it: under its run label (a
    preset runs under its own), given the run's evaluated cases before its first unit (`Editor.begin_run`)."""
    editor = editor_cls(lm, config, resources)
    editor.name = name
    editor.begin_run(list(cases))
    return editor


def resolved_config(name: str, config) -> dict:
    """An editor's configuration as config.json records it (`describe()` starts with these keys)."""
    return {"name": name, **{f.name: getattr(config, f.name) for f in fields(config)}}


def editor_setup(cfg: RunConfig) -> tuple[list[str], dict, dict]:
    """Canonical editor names, their classes and their configs (with --editor-args), checked before any loading."""
    names = [canonical_name(n) for n in cfg.editors]
    classes = {n: get_editor_class(n) for n in names}
    all_args = parse_editor_args(cfg.editor_args)
    unknown = set(all_args) - set(names)
    if unknown:
        raise BenchError(f"--editor-args names editor(s) {', '.join(sorted(unknown))} not in --editors")
    return names, classes, {n: build_config(classes[n], all_args.get(n, {}), preset=n) for n in names}


@dataclass
class RunState:
    """What every editor of one `bench run` shares."""

    cfg: RunConfig
    log: RunLog
    config: dict  # config.json, rewritten as editors start and finish
    cases: list
    pcfg: ProtocolConfig
    meta: dict  # dataset, model, protocol: written on every row
    earlier: dict[str, dict]  # editor records of earlier starts (resume)
    started: float  # time.time() of this start
    stamps: dict[str, dict] = field(default_factory=dict)  # editor -> its units' `written_with` (bench/runlog.py)


def all_done(state: RunState, name: str, done: set[str]) -> bool:
    """A resumed editor with every unit in cases.jsonl is not run again (a sequential editor would
    otherwise replay all its edits to score nothing)."""
    if name in state.earlier and len(done) >= unit_count(len(state.cases), state.pcfg):
        logger.info("%s: every unit is in %s already; not run again", name, state.log.cases_path)
        return True
    return False


def close_run(state: RunState) -> None:
    """The run's end: its wall time (next to the editors' own seconds, summed over workers) and its explorer."""
    state.config["wall_seconds"] = round(time.time() - state.started, 3)
    state.log.write_config(state.config)
    write_run_explorer(state.log.out)


def write_run_explorer(out: Path) -> Path | None:
    """OUT/explorer.html; a page that cannot be made is a warning, never a lost run."""
    from bench.explorer import write_explorer

    try:
        return write_explorer([str(out)], out / EXPLORER)
    except Exception as exc:  # noqa: BLE001 - the rows and summaries are written; the page is a view of them
        logger.warning("%s: the explorer was not written (%s: %s); `python -m bench report %s --format html "
                       "--out FILE.html` retries", out, type(exc).__name__, exc, out)
        return None


def editor_record(editor) -> dict:
    return {"config": editor.describe(), "metric_options": editor.metric_options()}


def begin_editor(state: RunState, name: str, record: dict) -> None:
    state.config["editors"][name] = record
    state.log.write_config(state.config)


def end_editor(state: RunState, name: str, seconds: float, finished: bool = True) -> None:
    """Record the editor's seconds (this start's plus earlier starts'; also of a start that stopped part-way, which
    the suite's estimates read) and, once every unit is done, its unit count, which marks it finished; re-summarise."""
    record = state.config["editors"][name]
    record["seconds"] = round(float(state.earlier.get(name, {}).get("seconds", 0.0)) + seconds, 3)
    if finished:
        record["units"] = unit_count(len(state.cases), state.pcfg)
    if finished and state.pcfg.name == "sequential":
        mine = EditorRows([r for r in state.log.rows() if r["editor"] == name])
        record["evaluation_work"] = evaluation_work(mine, sequential_plan(len(state.cases), state.pcfg))
    state.log.write_config(state.config)
    finish(state.log, state.meta, state.config, state.cfg)


def label_rows(rows: list[dict], name: str, key: str, meta: dict) -> list[dict]:
    for r in rows:
        r.update(editor=name, unit=key, **meta)
    return rows


def unit_count(n: int, pcfg: ProtocolConfig) -> int:
    if pcfg.name == "batch":
        return -(-n // pcfg.batch_size)
    if pcfg.name == "sequential":
        return n + len(sequential_plan(n, pcfg).points)
    return n


def finish(log: RunLog, meta: dict, config: dict, cfg: RunConfig) -> list[dict]:
    """(Re)write summary.csv, curve.csv and plots from the rows in cases.jsonl of the editors config.json records
    as finished (`units`): an editor stopped part-way keeps its rows for --resume but gets no summary row, which
    would otherwise stand beside the others with a fraction of their cases."""
    finished = set(finished_editors(config))
    rows = log.rows()
    unfinished = sorted({r["editor"] for r in rows} - finished)
    if unfinished:
        logger.info("left out of %s/summary.csv until they finish (--resume): %s", log.out, ", ".join(unfinished))
        rows = [r for r in rows if r["editor"] in finished]
    options = {n: e.get("metric_options", {}) for n, e in config["editors"].items()}
    records = summarize(rows, meta, options, cfg.bootstrap, cfg.seed)
    log.write_summary(records)
    log.write_per_case(per_case(rows, cfg.protocol, options))
    (log.out / "plots").mkdir(exist_ok=True)
    bar_charts(records, log.out / "plots")
    if cfg.protocol == "sequential":
        curve = sequential_curve(rows, options)
        log.write_curve(curve)
        curve_plots(curve, log.out / "plots", f"{meta['dataset']} / {meta['model']}: sequential editing")
        plan = make_plan(config["n_cases"], cfg.eval_every, options_from(cfg), cfg.seed)
        write_lifelong(log, rows, plan, options, cfg.bootstrap, cfg.seed, f"{meta['dataset']} / {meta['model']}")
    return records


def _generation_prefix(cases, data_dir: Path) -> str:
    """MQuAKE's few-shot multi-hop prompt frames generation questions (as the official evaluation)."""
    if not any(q.kind == NHOP for c in cases for q in c.queries):
        return ""
    path = data_dir / "mquake" / "prompts" / "multihop-prompts.txt"
    return path.read_text() if path.exists() else ""


def _config_record(cfg: RunConfig, cases, model_record: dict) -> dict:
    return {
        "args": asdict(cfg),
        "cases_format": CASES_FORMAT,
        "started": datetime.now().isoformat(timespec="milliseconds"),
        "command": " ".join(sys.argv),
        "seeds": {"global": cfg.seed, "per_unit": "seed (single/batch) or seed + edit index (sequential)",
                  "bootstrap": cfg.seed},
        "n_cases": len(cases),
        "case_ids": [c.case_id for c in cases],
        "model": model_record,
        "versions": _versions(),
        "git": _git_revision(),
        "editors": {},
    }


def _versions() -> dict:
    """What the rows' floats depend on besides the code: the machine, torch's CPU thread count (a reduction split
    over more threads adds in another order; a 100-edit LoRA stream diverged on its 4th edit between 1 and 2
    threads) and the libraries."""
    import torch

    out = {"python": platform.python_version(), "platform": platform.platform(), "cpu": cpu_description(),
           "torch_threads": torch.get_num_threads()}
    for pkg in ("torch", "transformers", "tokenizers", "numpy", "peft", "knowledge-edit-bench"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def cpu_description() -> str:
    """The processor and the vector instructions torch's CPU kernels use: floats round differently across them
    (Gemma's logprobs by up to 5e-4 between two machines of one kind), which a value optimisation can amplify."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    return f"{name} ({torch.backends.cpu.get_cpu_capability()})"


def _git_revision() -> dict:
    """HEAD, and whether tracked files other than the published results differ from it (runs write there)."""
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)results"], cwd=root, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return {"revision": None, "dirty": None}
    return {"revision": rev.stdout.strip() or None, "dirty": bool(dirty.stdout.strip())}


def load_config(run_dir: Path) -> dict:
    config = RunLog(Path(run_dir)).read_config()
    if config is None:
        raise BenchError(f"{run_dir} is not a run directory (no config.json)")
    return config
