"""--executor ray: a run or suite on Ray workers writes the run directories a local run writes, byte for byte."""

import builtins
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray
import torch
from safetensors import safe_open

import bench.suite as suite_module
from bench import ray_executor
from bench.cli import main
from bench.errors import BenchError
from bench.lifecycle import ExecutorConfig
from bench.suite import Suite, SuiteRun, run_suite
from tests.test_runner import TF_ONLY, _record

ROOT = Path(__file__).resolve().parents[1]
FILES = ("cases.jsonl", "per_case.csv", "summary.csv")


@pytest.fixture(scope="module")
def cluster():
    """One local Ray for the module (2 CPUs: two one-CPU workers); the harness joins it instead of starting one."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture
def one_thread():
    """Local runs with the threads of a one-CPU worker, so floating-point sums run in the same order."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def dataset(tmp_path):
    path = tmp_path / "cf.json"
    path.write_text(json.dumps([_record(i % 5) | {"case_id": 100 + i} for i in range(6)]))
    return f"counterfact:{path}"


def _run(editors, dataset, out, *extra):
    return main(["run", "--editors", editors, "--dataset", dataset, "--model", "tiny-llama", "--device", "cpu",
                 "--out", str(out), "--bootstrap", "50", *extra])


def _same_files(a: Path, b: Path, names=FILES) -> None:
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.mark.parametrize("protocol", [("single",), ("batch", "--batch-size", "2"),
                                      ("sequential", "--eval-every", "2")])
def test_a_ray_run_writes_what_a_local_run_writes(cluster, one_thread, dataset, tmp_path, protocol):
    args = ["--protocol", *protocol, "--limit", "5"]
    assert _run("noedit,ft-m,grace", dataset, tmp_path / "local", *args) == 0
    assert _run("noedit,ft-m,grace", dataset, tmp_path / "ray", *args, "--executor", "ray", "--workers", "2") == 0
    _same_files(tmp_path / "local", tmp_path / "ray", FILES + (("curve.csv",) if protocol[0] == "sequential" else ()))
    config = json.loads((tmp_path / "ray" / "config.json").read_text())
    assert config["executor"]["name"] == "ray" and config["executor"]["workers"] == 2
    assert config["executor"]["cluster"] == {"nodes": 1, "CPU": 2.0, "GPU": 0.0}
    assert config["wall_seconds"] > 0 and all(e["seconds"] > 0 for e in config["editors"].values())
    assert json.loads((tmp_path / "local" / "config.json").read_text())["executor"] == {"name": "local"}


def test_a_worker_killed_mid_unit_is_restarted_and_no_unit_is_written_twice(cluster, one_thread, dataset, tmp_path):
    marker = tmp_path / "crashed"
    editor_args = ("--editor-args", f"crashonce:marker={marker}")
    assert _run("tests.ray_editors:CrashOnce", dataset, tmp_path / "ray", "--executor", "ray", "--workers", "1",
                *editor_args) == 0
    assert marker.exists()  # the worker did die in its second unit
    units = [r["unit"] for r in map(json.loads, (tmp_path / "ray" / "cases.jsonl").read_text().splitlines())
             if "unit_rows" in r]
    assert len(units) == len(set(units)) == 6
    assert _run("tests.ray_editors:CrashOnce", dataset, tmp_path / "local", *editor_args) == 0  # marker: no crash
    _same_files(tmp_path / "local", tmp_path / "ray")


def test_ray_workers_give_every_editor_the_runs_cases(cluster, one_thread, dataset, tmp_path):
    args = ("--limit", "5", "--editor-args", "runcases:field=cases_of_run", *TF_ONLY)
    assert _run("tests.ray_editors:RunCases", dataset, tmp_path / "ray", *args, "--executor", "ray",
                "--workers", "2") == 0
    rows = [json.loads(x) for x in (tmp_path / "ray" / "cases.jsonl").read_text().splitlines()]
    assert len(rows) == 5 * 5 and {r["cases_of_run"] for r in rows} == {5}
    assert _run("tests.ray_editors:RunCases", dataset, tmp_path / "local", *args) == 0
    _same_files(tmp_path / "local", tmp_path / "ray")


def test_a_killed_driver_is_continued_with_resume(cluster, one_thread, dataset, tmp_path):
    """Slow first: its units are written one by one. After noedit, a loaded machine scored noedit's units after
    Slow had finished its, which then waited in the driver and were all written at once: nothing left to kill."""
    out = tmp_path / "ray"
    command = [sys.executable, "-m", "bench", "run", "--editors", "tests.ray_editors:Slow,noedit", "--dataset",
               dataset, "--model", "tiny-llama", "--device", "cpu", "--out", str(out), "--bootstrap", "50",
               "--executor", "ray", "--ray-address", cluster, "--workers", "2", "-q"]
    driver = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cases = out / "cases.jsonl"
    deadline = time.time() + 400  # a loaded 2-core machine takes minutes to start Ray and its workers
    while time.time() < deadline and not (cases.exists() and '"slow"' in cases.read_text()):
        time.sleep(0.2)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    assert cases.exists(), f"the driver wrote no row in 400 s: {cases}"
    written = [json.loads(x) for x in cases.read_text().splitlines()]
    assert any(r["editor"] == "slow" for r in written) and len(written) < 2 * 6 * 5  # killed part-way
    assert _run("tests.ray_editors:Slow,noedit", dataset, out, "--executor", "ray", "--workers", "2",
                "--resume") == 0
    units = [(r["editor"], r["unit"]) for r in map(json.loads, cases.read_text().splitlines()) if "unit_rows" in r]
    assert len(units) == len(set(units)) == 12
    assert _run("tests.ray_editors:Slow,noedit", dataset, tmp_path / "local") == 0
    _same_files(tmp_path / "local", out, ("per_case.csv", "summary.csv"))


def test_sigterm_stops_a_ray_run_like_ctrl_c(one_thread, dataset, tmp_path):
    """ray.init replaced the CLI's SIGTERM handler with Ray's, which ended the driver with a crash report and
    left a local Ray's agents running; now SIGTERM stops like Ctrl-C (exit 130, the message) and Ray is shut down."""
    out = tmp_path / "ray"
    command = [sys.executable, "-m", "bench", "run", "--editors", "noedit,tests.ray_editors:Slow", "--dataset",
               dataset, "--model", "tiny-llama", "--device", "cpu", "--out", str(out), "--bootstrap", "50",
               "--executor", "ray", "--workers", "1", "-q"]  # a Ray of its own, started by the driver
    driver = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "RAY_ADDRESS": ""})
    cases = out / "cases.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (cases.exists() and '"slow"' in cases.read_text()):
        time.sleep(0.2)
    driver.send_signal(signal.SIGTERM)
    _, err = driver.communicate(timeout=60)
    assert driver.returncode == 130, err
    assert "results written so far are kept; rerun with --resume" in err and "SIGTERM received" not in err
    slow = json.loads((out / "config.json").read_text())["editors"]["slow"]
    assert slow["seconds"] > 0  # the time of the units written is kept, as a local run keeps it
    assert "slow" in (out / "summary.csv").read_text()  # and the editor is summarised over them
    assert _run("noedit,tests.ray_editors:Slow", dataset, out, "--resume") == 0
    units = [(r["editor"], r["unit"]) for r in map(json.loads, cases.read_text().splitlines()) if "unit_rows" in r]
    assert len(units) == len(set(units)) == 12


def test_a_suite_schedules_all_its_runs_at_once(cluster, one_thread, tmp_path, monkeypatch):
    tiny = Suite("tiny", (SuiteRun("counterfact", "counterfact", ("noedit", "ft-m"), ("table2",)),
                          SuiteRun("zsre-sequential", "zsre", ("ft-m",), ("table10",), protocol="sequential",
                                   num_edits=3, eval_every=3)))
    monkeypatch.setitem(suite_module.SUITES, "tiny", tiny)
    calls = []
    real = ray_executor.run_on_ray
    monkeypatch.setattr(ray_executor, "run_on_ray", lambda cfgs, ex, given=None: calls.append(cfgs) or real(cfgs, ex))
    base = suite_module.RunConfig(editors=[], dataset="", out="", model="tiny-llama", device="cpu")
    assert run_suite("tiny", str(tmp_path / "local"), 3, set(), base=base) == 0
    assert run_suite("tiny", str(tmp_path / "ray"), 3, set(), base=base,
                     executor=ExecutorConfig("ray", workers=2)) == 0
    assert [len(c) for c in calls] == [2]  # both runs in one schedule
    for name in ("counterfact", "zsre-sequential"):
        _same_files(tmp_path / "local" / name, tmp_path / "ray" / name, ("per_case.csv", "summary.csv"))
    _same_files(tmp_path / "local" / "tables", tmp_path / "ray" / "tables", ("table2.md", "table10.md"))


def test_without_ray_the_error_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(BenchError, match=r"pip install -e '\.\[ray\]'"):
        ray_executor.require_ray()


def test_impossible_executor_options_are_refused(cluster, dataset, tmp_path, capsys):
    with pytest.raises(BenchError, match="only apply to --executor ray"):
        ExecutorConfig("local", workers=2)
    with pytest.raises(BenchError, match="--workers must be >= 1"):
        ExecutorConfig("ray", workers=0)
    assert _run("noedit", dataset, tmp_path / "run", "--executor", "ray", "--workers", "5") == 2
    assert "does not fit the Ray cluster (2 CPUs, 0 GPUs, 1 node(s)); at most 2 fit" in capsys.readouterr().err
    assert not (tmp_path / "run" / "cases.jsonl").exists()


def test_case_ids_with_commas_keep_every_unit_under_ray(cluster, one_thread, tmp_path):
    """Ids "a,b", "c", "a", "b,c" at batch size 2 once shared one unit key: the driver took the second unit for a
    retry of the first and never wrote it."""
    path = tmp_path / "cf.json"
    path.write_text(json.dumps([_record(i) | {"case_id": c} for i, c in enumerate(["a,b", "c", "a", "b,c"])]))
    args = ["--protocol", "batch", "--batch-size", "2"]
    assert _run("noedit", f"counterfact:{path}", tmp_path / "ray", *args, "--executor", "ray", "--workers", "2") == 0
    assert _run("noedit", f"counterfact:{path}", tmp_path / "local", *args) == 0
    _same_files(tmp_path / "local", tmp_path / "ray")
    assert ",4," in (tmp_path / "ray" / "summary.csv").read_text()


def test_a_resumed_ray_stream_starts_from_its_saved_state(cluster, one_thread, dataset, tmp_path):
    """Ray workers saved no sequential state, so a resumed stream replayed every edit (1,000 of them in a lifelong
    run); now the driver keeps each point's state and a resume edits only what is left, with a local run's rows."""
    folder, out = tmp_path / "nudge", tmp_path / "ray"
    folder.mkdir()
    args = ("--protocol", "sequential", "--eval-every", "2", "--editor-args", f"nudge:folder={folder}")
    assert _run("tests.ray_editors:Nudge", dataset, out, *args, "--executor", "ray", "--workers", "1") != 0
    state = out / "states" / "nudge.safetensors"
    with safe_open(str(state), "pt") as fh:
        assert fh.metadata()["n_edits"] == "4"  # the fifth edit failed: the state of the point before it
    assert (folder / "edits.txt").read_text().split() == ["100", "101", "102", "103"]
    (folder / "edits.txt").unlink()
    assert _run("tests.ray_editors:Nudge", dataset, out, *args, "--executor", "ray", "--workers", "1",
                "--resume") == 0
    assert (folder / "edits.txt").read_text().split() == ["104", "105"]
    assert not (out / "states").exists()
    assert _run("tests.ray_editors:Nudge", dataset, tmp_path / "local", *args) == 0
    _same_files(tmp_path / "local", out, FILES + ("curve.csv",))
