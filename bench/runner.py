"""`bench run`: load data and model once, run each editor under the protocol, write the run directory."""

from __future__ import annotations

import csv
import logging
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from importlib import metadata
from pathlib import Path

from tqdm import tqdm

from bench.atomic import atomic_write
from bench.data import load_dataset, resolve_data_dir
from bench.data.schema import NHOP, REL, EditCase
from bench.data.validate import check_context, context_length
from bench.editor import Resources, check_supported
from bench.errors import BenchError
from bench.models import load_model
from bench.plots import bar_charts, curve_plots
from bench.protocols import Baseline, ProtocolConfig, run_protocol
from bench.registry import (
    build_config,
    canonical_name,
    check_config_for_model,
    get_editor_class,
    parse_editor_args,
)
from bench.runlog import RunLog, check_editor_resume
from bench.scoring import Scorer
from bench.summary import per_case, sequential_curve, summarize

logger = logging.getLogger(__name__)


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


def validate(cfg: RunConfig) -> None:
    if cfg.protocol not in ("single", "batch", "sequential"):
        raise BenchError(f"unknown --protocol '{cfg.protocol}'; use single, batch or sequential")
    if cfg.protocol == "batch" and cfg.batch_size < 2:
        raise BenchError("--protocol batch needs --batch-size N with N >= 2 (N = 1 is the single protocol)")
    if cfg.protocol != "batch" and cfg.batch_size != 1:
        raise BenchError(f"--batch-size only applies to --protocol batch (got --protocol {cfg.protocol})")
    if cfg.protocol != "sequential" and (cfg.num_edits or cfg.eval_every):
        raise BenchError("--num-edits and --eval-every only apply to --protocol sequential")
    if cfg.eval_every < 0 or (cfg.num_edits is not None and cfg.num_edits < 1):
        raise BenchError("--num-edits must be >= 1 and --eval-every >= 0")
    if not cfg.editors:
        raise BenchError("--editors is empty; name at least one editor (see `python -m bench list editors`)")


def run(cfg: RunConfig, cases: list[EditCase] | None = None) -> Path:
    """Run `cfg` into `cfg.out`. `cases` (optional): evaluate these cases instead of loading `cfg.dataset`, which
    then only labels the run in config.json; the first `limit` (or `num_edits`) of them, as for a file."""
    validate(cfg)
    names, classes, configs = _editor_setup(cfg)
    limit = cfg.num_edits if cfg.protocol == "sequential" and cfg.num_edits else cfg.limit
    if cases is None:
        cases = load_dataset(cfg.dataset, cfg.data_dir, limit)
    else:
        cases = _given_cases(cases, limit)
    if not cases:
        raise BenchError(f"dataset '{cfg.dataset}' gave no cases")
    log = RunLog(Path(cfg.out))
    log.prepare(cfg.resume)
    try:
        _run_prepared(cfg, log, cases, names, classes, configs)
    finally:
        log.close()
    return log.out


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


def _run_prepared(cfg: RunConfig, log: RunLog, cases: list, names: list[str], classes: dict, configs: dict) -> None:
    """The run once its directory is locked (and, on --resume, cleared of units cut short)."""
    previous = log.read_config() if cfg.resume else None
    earlier = previous.get("editors", {}) if previous else {}  # their `seconds` then sum the whole cost
    lm = load_model(cfg.model, cfg.device, cfg.dtype, allow_hub=cfg.allow_hub)
    for n in names:
        check_supported(classes[n], lm, cfg.protocol)
        check_config_for_model(n, configs[n], lm)
        resolved = configs[n].resolved(lm, cfg.seed, classes[n])  # what config.json records once it runs
        check_editor_resume(log.out / "config.json", n, earlier.get(n), resolved_config(n, resolved))
    check_context(cases, lm.tokenizer, context_length(lm.model.config), cfg.dataset)
    data_dir = resolve_data_dir(cfg.data_dir)
    resources = Resources(data_dir=data_dir, seed=cfg.seed, encoder_name=cfg.encoder, device=str(lm.device),
                          allow_hub=cfg.allow_hub)
    pcfg = ProtocolConfig(cfg.protocol, cfg.batch_size, cfg.eval_every, cfg.seed, _generation_prefix(cases, data_dir),
                          state_dir=log.out / "states")
    config = _config_record(cfg, cases, lm)
    config["editors"].update(earlier)  # editors of earlier starts keep their record, also when not named again
    log.write_config(config)
    state = _RunState(cfg, log, config, cases, pcfg, Baseline(Scorer(lm.model, lm.tokenizer)),
                      {"dataset": cases[0].dataset, "model": cfg.model, "protocol": cfg.protocol}, earlier)
    ran = False
    for name in names:
        done = log.done_units(name)
        ran = not _all_done(state, name, done)
        if ran:
            editor = classes[name](lm, configs[name], resources)
            _run_named_editor(state, name, editor, done)
            del editor  # free it before the next editor is built
    if not ran:  # the last editors were finished already (e.g. rows merged from another run)
        finish(log, state.meta, config, cfg)


def resolved_config(name: str, config) -> dict:
    """An editor's configuration as config.json records it (`describe()` starts with these keys)."""
    return {"name": name, **{f.name: getattr(config, f.name) for f in fields(config)}}


def _editor_setup(cfg: RunConfig) -> tuple[list[str], dict, dict]:
    """Canonical editor names, their classes and their configs (with --editor-args), checked before any loading."""
    names = [canonical_name(n) for n in cfg.editors]
    classes = {n: get_editor_class(n) for n in names}
    all_args = parse_editor_args(cfg.editor_args)
    unknown = set(all_args) - set(names)
    if unknown:
        raise BenchError(f"--editor-args names editor(s) {', '.join(sorted(unknown))} not in --editors")
    return names, classes, {n: build_config(classes[n], all_args.get(n, {}), preset=n) for n in names}


@dataclass
class _RunState:
    """What every editor of one `bench run` shares."""

    cfg: RunConfig
    log: RunLog
    config: dict  # config.json, rewritten as editors start and finish
    cases: list
    pcfg: ProtocolConfig
    baseline: Baseline  # the unedited model: restore fingerprint and locality references
    meta: dict  # dataset, model, protocol: written on every row
    earlier: dict[str, dict]  # editor records of earlier starts (resume)


def _all_done(state: _RunState, name: str, done: set[str]) -> bool:
    """A resumed editor with every unit in cases.jsonl is not run again (a sequential editor would
    otherwise replay all its edits to score nothing)."""
    if name in state.earlier and len(done) >= _unit_count(len(state.cases), state.pcfg):
        logger.info("%s: every unit is in %s already; not run again", name, state.log.cases_path)
        return True
    return False


def _run_named_editor(state: _RunState, name: str, editor, done: set[str]) -> None:
    """Run `editor` under `name` on the units not `done`, record it in config.json, re-summarise. An interrupted
    editor's time is recorded too (the suite's estimates read it)."""
    config, log = state.config, state.log
    editor.name = name  # a preset runs under its own label
    config["editors"][name] = {"config": editor.describe(), "metric_options": editor.metric_options()}
    log.write_config(config)
    spent = float(state.earlier.get(name, {}).get("seconds", 0.0))
    started = time.time()
    try:
        _run_editor(editor, name, state.cases, state.baseline, state.pcfg, log, state.meta, done)
    finally:
        config["editors"][name]["seconds"] = round(spent + time.time() - started, 3)
        config["editors"][name]["units"] = _unit_count(len(state.cases), state.pcfg)
        log.write_config(config)
    finish(log, state.meta, config, state.cfg)


def _run_editor(editor, name, cases, baseline: Baseline, pcfg, log, meta, done: set[str]) -> None:
    total = _unit_count(len(cases), pcfg)
    bar = tqdm(total=total, desc=f"{name} [{pcfg.name}]", unit="unit", initial=len(done), file=sys.stderr)
    started = time.time()
    for key, rows in run_protocol(editor, cases, baseline, pcfg, done):
        for r in rows:
            r.update(editor=name, unit=key, **meta)
        log.append(rows)
        bar.update(1)
    bar.close()
    logger.info("%s: %.1fs", name, time.time() - started)


def _unit_count(n: int, pcfg: ProtocolConfig) -> int:
    if pcfg.name == "batch":
        return -(-n // pcfg.batch_size)
    if pcfg.name == "sequential":
        every = pcfg.eval_every or n
        return n + n // every + (1 if n % every else 0)
    return n


def finish(log: RunLog, meta: dict, config: dict, cfg: RunConfig) -> list[dict]:
    """(Re)write summary.csv, curve.csv and plots from everything in cases.jsonl."""
    rows = log.rows()
    options = {n: e.get("metric_options", {}) for n, e in config["editors"].items()}
    records = summarize(rows, meta, options, cfg.bootstrap, cfg.seed)
    log.write_summary(records)
    log.write_per_case(per_case(rows, cfg.protocol, options))
    bar_charts(records, log.out / "plots")
    if cfg.protocol == "sequential":
        curve = sequential_curve(rows, options)
        _write_csv(log.out / "curve.csv", curve)
        curve_plots(curve, log.out / "plots", f"{meta['dataset']} / {meta['model']}: sequential editing")
    return records


def _write_csv(path: Path, rows: list[dict]) -> None:
    if not rows:
        return

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows({k: ("" if v is None else round(v, 4) if isinstance(v, float) else v)
                              for k, v in r.items()} for r in rows)

    atomic_write(path, write)


def _generation_prefix(cases, data_dir: Path) -> str:
    """MQuAKE's few-shot multi-hop prompt frames generation questions (as the official evaluation)."""
    if not any(q.kind == NHOP for c in cases for q in c.queries):
        return ""
    path = data_dir / "mquake" / "prompts" / "multihop-prompts.txt"
    return path.read_text() if path.exists() else ""


def _config_record(cfg: RunConfig, cases, lm) -> dict:
    return {
        "args": asdict(cfg),
        "started": datetime.now().isoformat(timespec="milliseconds"),
        "command": " ".join(sys.argv),
        "seeds": {"global": cfg.seed, "per_unit": "seed (single/batch) or seed + edit index (sequential)",
                  "bootstrap": cfg.seed},
        "n_cases": len(cases),
        "case_ids": [c.case_id for c in cases],
        "model": {"name": cfg.model, "model_type": lm.model_type, "device": str(lm.device), "dtype": str(lm.dtype),
                  "n_params": sum(p.numel() for p in lm.model.parameters())},
        "versions": _versions(),
        "git": _git_revision(),
        "editors": {},
    }


def _versions() -> dict:
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("torch", "transformers", "tokenizers", "numpy", "peft", "knowledge-edit-bench"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


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
