"""`bench run` in this process: load the model once, run each editor under the protocol into the run directory
(the lifecycle it shares with the Ray executor is bench/lifecycle.py)."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from tqdm import tqdm

from bench.data.schema import EditCase
from bench.errors import BenchError
from bench.lifecycle import (
    ExecutorConfig,
    OpenRun,
    RunConfig,
    RunState,
    all_done,
    begin_editor,
    build_editor,
    check_with_model,
    close_run,
    editor_record,
    end_editor,
    finish,
    label_rows,
    open_run,
    resources_for,
    start_run,
    unit_count,
)
from bench.models import load_model
from bench.protocols import Baseline, run_protocol
from bench.scoring import Scorer

logger = logging.getLogger(__name__)


def run(cfg: RunConfig, cases: list[EditCase] | None = None, executor: ExecutorConfig | None = None,
        lm=None) -> Path:
    """Run `cfg` into `cfg.out`. `cases` (optional): evaluate these cases instead of loading `cfg.dataset`, which
    then only labels the run in config.json; the first `limit` (or `num_edits`) of them, as for a file.
    `executor`: where the editors run (default: this process; bench/ray_executor.py for a Ray cluster).
    `lm`: a `LoadedModel` already in memory (the Python API), used instead of loading `cfg.model` (local only)."""
    executor = executor or ExecutorConfig()
    if executor.name == "ray" and lm is not None:
        raise BenchError("a model already in memory runs in this process only; leave out the Ray executor")
    if executor.name == "ray":
        from bench.ray_executor import run_on_ray

        failures = run_on_ray([cfg], executor, [cases])
        if failures:
            raise failures[0]
        return Path(cfg.out)
    opened = open_run(cfg, cases)
    try:
        _run_locally(opened, executor, lm)
    finally:
        opened.log.close()
    return opened.log.out


def _run_locally(opened: OpenRun, executor: ExecutorConfig, lm=None) -> None:
    """The editors one after another in this process; a run that fails before its first row leaves no folder."""
    try:
        _run_editors(opened, executor, lm)
    except BaseException:
        opened.log.discard_if_unused()
        raise


def _run_editors(opened: OpenRun, executor: ExecutorConfig, lm=None) -> None:
    cfg = opened.cfg
    lm = lm or load_model(cfg.model, cfg.device, cfg.dtype, allow_hub=cfg.allow_hub)
    state = start_run(opened, check_with_model(opened, lm), executor.record())
    baseline = Baseline(Scorer(lm.model, lm.tokenizer))
    resources = resources_for(cfg, lm)
    ran, progress = False, RunProgress(len(opened.names) * unit_count(len(state.cases), state.pcfg))
    for i, name in enumerate(opened.names, 1):
        done = state.log.done_units(name)
        progress.skip(len(done))
        ran = not all_done(state, name, done)
        if ran:
            logger.info("editor %d of %d: %s%s", i, len(opened.names), name, progress.eta())
            editor = build_editor(opened.classes[name], lm, opened.configs[name], resources, name, state.cases)
            _run_named_editor(state, name, editor, baseline, done)
            progress.ran(unit_count(len(state.cases), state.pcfg) - len(done))
            del editor  # free it before the next editor is built
    if not ran:  # the last editors were finished already (e.g. rows merged from another run)
        finish(state.log, state.meta, state.config, cfg)
    close_run(state)


class RunProgress:
    """The whole run's progress for its editor i of N line: units done and an ETA from this run's speed so far."""

    def __init__(self, total: int):
        self.total, self.finished, self.timed, self.started = total, 0, 0, time.time()

    def skip(self, units: int) -> None:
        self.finished += units  # done by an earlier start

    def ran(self, units: int) -> None:
        self.finished += units
        self.timed += units

    def eta(self) -> str:
        left = self.total - self.finished
        if not self.timed:
            return f" ({left} units of the run left)"
        per_unit = (time.time() - self.started) / self.timed
        return f" ({left} units of the run left, about {hms(left * per_unit)} at this run's speed so far)"


def hms(seconds: float) -> str:
    """'1h05m' or '4m07s': the one duration format of progress lines and the suite's estimates."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _run_named_editor(state: RunState, name: str, editor, baseline: Baseline, done: set[str]) -> None:
    """Run `editor` under `name` on the units not `done`, record it in config.json, re-summarise. An interrupted
    editor's time is recorded too (the suite's estimates read it), but not as finished."""
    begin_editor(state, name, editor_record(editor))
    started, finished = time.time(), False
    try:
        _run_editor(editor, name, state, baseline, done)
        finished = True
    finally:
        end_editor(state, name, time.time() - started, finished)


def _run_editor(editor, name, state: RunState, baseline: Baseline, done: set[str]) -> None:
    pcfg = state.pcfg
    bar = tqdm(total=unit_count(len(state.cases), pcfg), desc=f"{name} [{pcfg.name}]", unit="unit",
               initial=len(done), file=sys.stderr)
    started = time.time()
    for key, rows in run_protocol(editor, state.cases, baseline, pcfg, done):
        state.log.append(label_rows(rows, name, key, state.meta), state.stamps.get(name))
        bar.update(1)
    bar.close()
    logger.info("%s: %.1fs", name, time.time() - started)
