"""Installable: the project built as a wheel and installed (not editable) into a fresh virtual environment runs
from another folder, with every package and the data files the code reads, and finds its checkpoints only
where told ($BENCH_CHECKPOINT_DIR), saying so when it cannot.

The fresh environment reuses this one's installed dependencies through a .pth file of plain path lines (so the
editable install's finder, loaded by a .pth of this environment, is not), and nothing reaches a package index.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = os.environ.get("BENCH_DATA_DIR") or str(REPO.parent / "shared" / "data")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path(DATA).is_dir(), reason="no data folder (BENCH_DATA_DIR)")]


def _run(args: list, cwd: Path, env: dict, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(python of the fresh environment, its site-packages, the wheel, a scratch folder, the environment)."""
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"  # a copy, so building writes no build/ or egg-info into the checkout
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    for package in ("bench", "editors"):
        shutil.copytree(REPO / package, src / package, ignore=IGNORE)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "BENCH_CHECKPOINT_DIR", "PYTHONHOME")}
    env.update(BENCH_DATA_DIR=DATA, OMP_NUM_THREADS="1", PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    done = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", tmp / "dist", src],
                tmp, env)
    assert done.returncode == 0, done.stdout + done.stderr
    wheel = next((tmp / "dist").glob("knowledge_edit_bench-*.whl"))

    venv = tmp / "venv"
    done = _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp, env)
    assert done.returncode == 0, done.stderr
    python = venv / "bin" / "python"
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp, env)
                .stdout.strip())
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "_outer_environment.pth").write_text("".join(f"{p}\n" for p in sorted(ours)))
    done = _run([python, "-m", "pip", "install", "--no-deps", "--no-index", wheel], tmp, env)
    assert done.returncode == 0, done.stdout + done.stderr
    return python, site, wheel, tmp, env


def test_the_wheel_holds_every_package_and_its_data_files(installed):
    _, _, wheel, _, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in [REPO / "bench", REPO / "editors"]:
        for init in folder.rglob("__init__.py"):
            assert init.relative_to(REPO).as_posix() in names  # every package and subpackage
    tracked = subprocess.run(["git", "ls-files", "bench", "editors"], cwd=REPO, capture_output=True, text=True)
    data = [n for n in tracked.stdout.split() if n.endswith((".json", ".yaml"))] if tracked.returncode == 0 else []
    data = data or [p.relative_to(REPO).as_posix() for p in REPO.glob("editors/*/hparams/*.json")]
    assert data and all(n in names for n in data)  # e.g. editors/rome/hparams/*.json, read at run time
    assert not any(n.startswith(("tests/", "results/")) for n in names)


def test_runs_from_another_folder_with_the_installed_packages(installed):
    python, site, _, tmp, env = installed
    code = ("import bench, editors\nfrom editors.memit.memit import MEMIT\nfrom editors.pmet.pmet import PMET\n"
            "from editors.rome.rome import ROME\nprint(bench.__file__, editors.__file__)\n"
            "print(*(c.method_dir / 'hparams' / 'tiny-llama.json' for c in (ROME, MEMIT, PMET)))")
    where = _run([python, "-c", code], tmp, env)
    assert where.returncode == 0, where.stderr
    for line in where.stdout.split():  # the packages and the hyper-parameter files ROME/MEMIT/PMET read
        assert Path(line).is_relative_to(site) and not Path(line).is_relative_to(REPO), where.stdout
        assert Path(line).is_file(), line
    listed = _run([python, "-m", "bench", "list", "editors"], tmp, env)
    assert listed.returncode == 0, listed.stderr
    assert "noedit" in listed.stdout and "instructed" in listed.stdout
    out = tmp / "run"
    done = _run([python, "-m", "bench", "run", "--editors", "noedit", "--dataset", "counterfact", "--limit", "2",
                 "--model", "tiny-llama", "--device", "cpu", "--out", out, "--bootstrap", "10"], tmp, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (out / "config.json").is_file()


def test_the_installed_harness_finds_the_paper_study_through_its_entry_points(installed):
    python, _, _, tmp, env = installed
    code = ("from bench.suite import suites\nfrom bench.tables import layouts\n"
            "print(','.join(suites()), ','.join(layouts()))")
    found = _run([python, "-c", code], tmp, env)
    assert found.returncode == 0, found.stderr
    assert found.stdout.split() == ["paper,baselines,instructed-paper-budget",
                                    "table2,table3,table4,table9,table10,batch,table12"]
    plan = _run([python, "-m", "bench", "suite", "--name", "instructed-paper-budget", "--limit", "2", "--dry-run",
                 "--out", tmp / "suite"], tmp, env)
    assert plan.returncode == 0 and "counterfact-ablations" in plan.stderr, plan.stdout + plan.stderr


def test_an_installed_instructed_without_a_checkpoint_root_says_where_to_look(installed):
    python, site, _, tmp, env = installed
    done = _run([python, "-m", "bench", "run", "--editors", "instructed", "--dataset", "counterfact", "--limit", "2",
                 "--model", "tiny-llama", "--device", "cpu", "--out", tmp / "instructed-run", "--bootstrap", "10"],
                tmp, env)
    assert done.returncode != 0
    err = done.stderr
    assert "BENCH_CHECKPOINT_DIR is not set" in err and str(site / "results" / "checkpoints") in err, err
    assert "python -m bench train instructed --model tiny-llama" in err and "instructed:checkpoint=PATH" in err
    assert "Traceback" not in err


def test_an_installed_instructed_finds_its_checkpoint_through_the_root_setting(installed):
    """The committed SmolLM2 checkpoint, found from the wheel install by $BENCH_CHECKPOINT_DIR alone."""
    python, _, _, tmp, env = installed
    out = tmp / "instructed-found"
    done = _run([python, "-m", "bench", "run", "--editors", "instructed", "--dataset", "counterfact", "--limit", "1",
                 "--model", "smollm2-135m", "--device", "cpu", "--out", out, "--bootstrap", "10"],
                tmp, {**env, "BENCH_CHECKPOINT_DIR": str(REPO / "results" / "checkpoints")})
    assert done.returncode == 0, done.stdout + done.stderr
    config = json.loads((out / "config.json").read_text())
    checkpoint = config["editors"]["instructed"]["config"]["checkpoint"]
    assert Path(checkpoint).resolve() == (REPO / "results" / "checkpoints" / "instructed" / "smollm2-135m").resolve()
