"""`--executor ray`: the units of one run, or of a whole suite, fanned out to Ray actors; one writer.

The driver opens every run (locks its directory, keeps what a --resume keeps), has a worker check each run
against its model, and schedules all units of all runs at once: a single or batch unit is one task, a sequential
editor one streaming task (its state is one model). A `Worker` actor loads each model once and keeps an editor
between the units of its run (the protocol verifies every `reset()` bitwise), so where a unit runs does not
change its rows. Rows come back per finished unit and only the driver writes run directories: it appends units
in the order one process would (a unit finished ahead of an earlier one waits in the driver's memory), so
cases.jsonl, summary.csv and per_case.csv are those of a local run. A killed worker is restarted by Ray and its
unit retried (rows are written only from a finished task, a key at most once); a killed driver is continued by
the same command with --resume (units it had not written run again).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from bench import sequential_state
from bench.errors import BenchError
from bench.lifecycle import (
    ExecutorConfig,
    OpenRun,
    RunConfig,
    RunState,
    all_done,
    begin_editor,
    close_run,
    end_editor,
    finish,
    label_rows,
    open_run,
    start_run,
    unit_count,
)

logger = logging.getLogger(__name__)

IN_FLIGHT_PER_WORKER = 2  # tasks queued on an actor: the next unit is ready when one finishes
EDITORS_KEPT = 2  # editors a worker keeps built (units arrive in plan order: the current editor and the next)
RETRIES = 3  # restarts of a dead worker, and retries of the task it had


def require_ray():
    try:
        import ray
    except ImportError:
        raise BenchError("--executor ray needs Ray: pip install -e '.[ray]' (or pip install 'ray[default]')") from None
    return ray


# -- the worker ------------------------------------------------------------------------------------------------

class Worker:
    """Runs units; one model load per (model, device, dtype) and process, editors kept between units of a run."""

    def __init__(self, threads: int):
        import torch

        torch.set_num_threads(max(1, threads))
        logging.basicConfig(level=logging.WARNING, format="[%(name)s] %(message)s")
        self._models: dict[tuple, tuple] = {}
        self._editors: OrderedDict[tuple, object] = OrderedDict()

    def pid(self) -> int:
        return os.getpid()

    def _model(self, cfg: RunConfig):
        from bench.models import load_model
        from bench.protocols import Baseline
        from bench.scoring import Scorer

        key = (cfg.model, cfg.device, cfg.dtype)
        if key not in self._models:
            lm = load_model(cfg.model, cfg.device, cfg.dtype, allow_hub=cfg.allow_hub)
            self._models[key] = (lm, Baseline(Scorer(lm.model, lm.tokenizer)))
        return self._models[key]

    def check(self, cfg: RunConfig, cases: list, earlier: dict, row_stamps: dict):
        """The run checked against its model (runner.check_with_model); the model's record for config.json."""
        from bench.lifecycle import check_with_model, editor_setup
        from bench.runlog import RunLog

        names, classes, configs = editor_setup(cfg)
        opened = OpenRun(cfg, RunLog(Path(cfg.out)), cases, names, classes, configs, earlier, row_stamps)
        return check_with_model(opened, self._model(cfg)[0])

    def _editor(self, cfg: RunConfig, name: str, cases: list):
        """`cases`: the run's evaluated cases (every task is given them: a restarted worker builds anew)."""
        from bench.lifecycle import build_editor, editor_setup, resources_for
        from bench.protocols import verify_unedited

        key = (cfg.out, name)
        if key not in self._editors:
            names, classes, configs = editor_setup(cfg)
            lm, baseline = self._model(cfg)
            while len(self._editors) >= EDITORS_KEPT:
                self._editors.popitem(last=False)
            editor = build_editor(classes[name], lm, configs[name], resources_for(cfg, lm), name, cases)
            verify_unedited(editor, baseline)
            self._editors[key] = editor
        self._editors.move_to_end(key)
        return self._editors[key]

    def describe(self, cfg: RunConfig, name: str, cases: list) -> tuple[dict, float]:
        """config.json's record of the editor, and the seconds building it took."""
        from bench.lifecycle import editor_record

        started = time.time()
        return editor_record(self._editor(cfg, name, cases)), time.time() - started

    def run_units(self, cfg: RunConfig, pcfg, name: str, cases: list,
                  groups: list) -> list[tuple[str, list[dict], float]]:
        from bench.protocols import run_units

        editor, baseline = self._editor(cfg, name, cases), self._model(cfg)[1]
        out, started = [], time.time()
        for key, rows in run_units(editor, groups, baseline, pcfg, set()):
            out.append((key, rows, time.time() - started))
            started = time.time()
        return out

    def run_sequential(self, cfg: RunConfig, pcfg, name: str, cases: list, done: set[str], initial):
        """A streaming task: (key, rows, seconds) per unit as the sequential protocol yields it, and after an
        evaluation point's rows (None, its Snapshot, 0.0) for the driver to keep. `initial`: the saved Snapshot
        the driver read (bench/sequential_state.py), None to start from the first edit."""
        from bench.protocols import run_protocol
        from bench.sequential_state import RelayStore

        editor, baseline = self._editor(cfg, name, cases), self._model(cfg)[1]
        self._editors.pop((cfg.out, name))  # its edits accumulate: never reused
        store, started = RelayStore(initial), time.time()
        for key, rows in run_protocol(editor, cases, baseline, pcfg, done, store):
            yield key, rows, time.time() - started
            for snap in store.take():
                yield None, snap, 0.0
            started = time.time()


# -- the driver ------------------------------------------------------------------------------------------------

@dataclass
class _Slot:
    """One task's units, in the order they are written."""

    job: _Job
    editor: str
    payload: tuple = ()  # the task's: (editor, unit's cases) or, sequential, (editor, units done, saved Snapshot)
    units: list = field(default_factory=list)  # finished (key, rows, seconds) not yet written
    complete: bool = False
    last_of_editor: bool = False


@dataclass
class _Job:
    """One run on the cluster."""

    opened: OpenRun
    state: RunState | None = None
    cases: object = None  # the run's cases put in Ray's object store once (every task of the run is given them)
    slots: list[_Slot] = field(default_factory=list)
    next_slot: int = 0
    records: dict[str, dict] = field(default_factory=dict)  # editor -> config.json record, from its worker
    seconds: dict[str, float] = field(default_factory=dict)  # editor -> seconds summed over workers
    written: set[tuple[str, str]] = field(default_factory=set)  # (editor, unit key) appended by this start
    begun: set[str] = field(default_factory=set)
    ended: set[str] = field(default_factory=set)
    closed: bool = False
    failure: BenchError | None = None

    @property
    def name(self) -> str:
        return str(self.opened.log.out)


def run_on_ray(cfgs: list[RunConfig], executor: ExecutorConfig, given: list | None = None) -> list[BenchError]:
    """Run every config on the cluster at once; the failures (one per failed run, the others finish)."""
    ray = require_ray()
    started_here = _connect(ray, executor)
    jobs, failures = [], []
    try:
        workers = _workers(ray, executor)
        record = {**executor.record(), "workers": len(workers), "cluster": _cluster(ray)}
        for cfg, cases in zip(cfgs, given or [None] * len(cfgs)):
            try:
                jobs.append(_Job(open_run(cfg, cases)))
            except BenchError as exc:
                failures.append(exc)
                logger.error("%s: %s", cfg.out, exc)
        _start(ray, jobs, workers, record)
        _execute(ray, [j for j in jobs if j.failure is None], workers)
    finally:
        for job in jobs:
            if job.failure is not None:
                job.opened.log.discard_if_unused()
            elif not job.closed:  # interrupted: as a local run, each editor begun keeps its time and summary
                for name in job.begun - job.ended:
                    end_editor(job.state, name, job.seconds[name])
            job.opened.log.close()
        if started_here:
            ray.shutdown()
    for job in jobs:
        if job.failure is not None:
            logger.error("%s failed: %s", job.name, job.failure)
            failures.append(job.failure)
    return failures


def _connect(ray, executor: ExecutorConfig) -> bool:
    """Join executor.address or $RAY_ADDRESS, else start a local Ray; True if this process started it."""
    if ray.is_initialized():
        return False
    address = executor.address or os.environ.get("RAY_ADDRESS") or None
    env = {k: v for k, v in os.environ.items() if k.startswith("BENCH_")}  # data dir, caches, checkpoints
    handler = signal.getsignal(signal.SIGTERM)
    ray.init(address=address, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env},
             logging_level=logging.WARNING)
    if callable(handler) and threading.current_thread() is threading.main_thread():
        # ray.init puts in its own, which ends the process at once (a crash report, no cleanup, a local Ray's
        # agents left running): keep the caller's (the CLI's stops like Ctrl-C, then Ray is shut down)
        signal.signal(signal.SIGTERM, handler)
    return True


def _cluster(ray) -> dict:
    total = ray.cluster_resources()
    return {"nodes": sum(1 for n in ray.nodes() if n.get("Alive")), "CPU": total.get("CPU", 0.0),
            "GPU": total.get("GPU", 0.0)}


def _workers(ray, executor: ExecutorConfig) -> list:
    """The actors: --workers, or as many as the cluster's CPUs (and GPUs, when workers take GPUs) hold."""
    cluster = _cluster(ray)
    fit = int(cluster["CPU"] // executor.worker_cpus) if executor.worker_cpus else 1 << 30
    if executor.worker_gpus:
        fit = min(fit, int(cluster["GPU"] // executor.worker_gpus))
    n = executor.workers or fit
    if n < 1 or n > fit:
        raise BenchError(f"--workers {n} with --worker-cpus {executor.worker_cpus} and --worker-gpus "
                         f"{executor.worker_gpus} does not fit the Ray cluster ({cluster['CPU']:g} CPUs, "
                         f"{cluster['GPU']:g} GPUs, {cluster['nodes']} node(s)); at most {fit} fit")
    actor = ray.remote(max_restarts=RETRIES, max_task_retries=RETRIES)(Worker)
    options = {"num_cpus": executor.worker_cpus, "num_gpus": executor.worker_gpus}
    return [actor.options(**options).remote(max(1, int(executor.worker_cpus))) for _ in range(n)]


def _get(ray, ref):
    """ray.get, with an error raised in a worker given back as it was raised (a BenchError names its cause)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, BenchError):
            raise cause from None
        raise BenchError(f"a Ray worker failed: {cause or exc}") from None
    except ray.exceptions.RayActorError as exc:
        raise BenchError(f"a Ray worker died {RETRIES + 1} times running this unit: {exc}") from None


def _start(ray, jobs: list[_Job], workers: list, executor_record: dict) -> None:
    """Check each run on a worker, write its config.json, describe its editors and lay out its units."""
    checks = [workers[i % len(workers)].check.remote(j.opened.cfg, j.opened.cases, j.opened.earlier,
                                                        j.opened.row_stamps)
              for i, j in enumerate(jobs)]
    for job, ref in zip(jobs, checks):
        try:
            job.state = start_run(job.opened, _get(ray, ref), executor_record, state_dir=False)
        except BenchError as exc:
            job.failure = exc
    described, n = {}, 0
    for job in (j for j in jobs if j.failure is None):
        job.cases = ray.put(job.state.cases)
        _lay_out(job)
        for name in dict.fromkeys(s.editor for s in job.slots):
            described[(job.name, name)] = workers[n % len(workers)].describe.remote(job.opened.cfg, name, job.cases)
            n += 1
    for job in (j for j in jobs if j.failure is None):
        try:
            for name in dict.fromkeys(s.editor for s in job.slots):
                job.records[name], job.seconds[name] = _get(ray, described[(job.name, name)])
        except BenchError as exc:
            job.failure = exc


def _states(job: _Job) -> Path:
    return sequential_state.states_dir(job.state.log.out)


def _lay_out(job: _Job) -> None:
    from bench.protocols import sequential_plan, unit_groups, unit_key

    state = job.state
    for name in job.opened.names:
        done = state.log.done_units(name)
        if all_done(state, name, done):
            continue
        if state.pcfg.name == "sequential":
            plan = sequential_plan(len(state.cases), state.pcfg)
            initial = sequential_state.read(_states(job), name, state.cases, done, plan)
            job.slots.append(_Slot(job, name, (name, done, initial), last_of_editor=True))
            continue
        groups = [g for g in unit_groups(state.cases, state.pcfg) if unit_key(g) not in done]
        slots = [_Slot(job, name, (name, group)) for group in groups] or [_Slot(job, name, complete=True)]
        slots[-1].last_of_editor = True
        job.slots += slots


def _execute(ray, jobs: list[_Job], workers: list) -> None:
    """Keep every worker busy with the next units, write what finished in order, until every slot is written."""
    queue = [s for job in jobs for s in job.slots if s.payload]
    bar = tqdm(total=sum(_slot_units(s) for s in queue), desc="units [ray]", unit="unit", file=sys.stderr)
    load = {i: 0 for i in range(len(workers))}
    flight: dict = {}  # ref or generator -> (slot, worker index)
    for job in jobs:
        _flush(job, bar)
    while queue or flight:
        while queue and min(load.values()) < IN_FLIGHT_PER_WORKER:
            w = min(load, key=load.get)
            slot = queue.pop(0)
            if slot.job.failure is None:
                flight[_submit(workers[w], slot)] = (slot, w)
                load[w] += 1
        if not flight:
            continue
        ready, _ = ray.wait(list(flight), num_returns=1)
        slot, w = flight[ready[0]]
        if _receive(ray, ready[0], slot):
            del flight[ready[0]]
            load[w] -= 1
        _flush(slot.job, bar)
    bar.close()


def _slot_units(slot: _Slot) -> int:
    job = slot.job
    if job.state.pcfg.name != "sequential":
        return 1
    return unit_count(len(job.state.cases), job.state.pcfg) - len(slot.payload[1])


def _submit(worker, slot: _Slot):
    job = slot.job
    cfg, pcfg = job.opened.cfg, job.state.pcfg
    if pcfg.name == "sequential":
        name, done, initial = slot.payload
        return worker.run_sequential.options(num_returns="streaming").remote(cfg, pcfg, name, job.cases, done,
                                                                              initial)
    name, group = slot.payload
    return worker.run_units.remote(cfg, pcfg, name, job.cases, [group])


def _receive(ray, ready, slot: _Slot) -> bool:
    """Take what a task gave; True when the task is over (its slot complete, or its run failed)."""
    try:
        if isinstance(ready, ray.ObjectRefGenerator):
            try:
                ref = next(ready)
            except StopIteration:
                slot.complete = True
                return True
            slot.units.append(_get(ray, ref))
            return False
        slot.units += _get(ray, ready)
        slot.complete = True
    except BenchError as exc:
        slot.job.failure = slot.job.failure or exc
    return True


def _flush(job: _Job, bar) -> None:
    """Append the finished units that are next in write order; close an editor after its last one."""
    if job.failure is not None:
        return
    state = job.state
    while job.next_slot < len(job.slots):
        slot = job.slots[job.next_slot]
        if slot.editor not in job.begun:
            begin_editor(state, slot.editor, job.records[slot.editor])
            job.begun.add(slot.editor)
        for key, rows, seconds in slot.units:
            if key is None:  # a sequential editor's state, after the rows it follows
                sequential_state.write(_states(job), rows)
                continue
            job.seconds[slot.editor] += seconds
            if (slot.editor, key) not in job.written:  # a retried task may give a unit again
                state.log.append(label_rows(rows, slot.editor, key, state.meta), state.stamps.get(slot.editor))
                job.written.add((slot.editor, key))
                bar.update(1)
        slot.units = []
        if not slot.complete:
            return
        job.next_slot += 1
        if slot.last_of_editor:
            if state.pcfg.name == "sequential":
                sequential_state.remove(_states(job), slot.editor)
            end_editor(state, slot.editor, job.seconds[slot.editor])
            job.ended.add(slot.editor)
    if not job.closed:
        if not job.begun:  # every editor was finished already (e.g. rows merged from another run)
            finish(state.log, state.meta, state.config, state.cfg)
        close_run(state)
        job.closed = True
