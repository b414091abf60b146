"""scripts/cpu/queue.sh: the queue that carries the CPU's long runs across sittings commits what its lines wrote."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

QUEUE_SH = Path(__file__).resolve().parents[1] / "scripts" / "cpu" / "queue.sh"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_committed_training_folder_with_newer_tensors_does_not_block_the_snapshot(tmp_path):
    """A fresh checkout gives a finished training's tensors any file time, newer than its config.json included. The
    queue once took that for a save in progress and staged nothing at every snapshot; a folder git sees unchanged
    has nothing to stage, so its file times must not hold back the runs' rows."""
    repo = tmp_path / "repo"
    (repo / "scripts" / "cpu").mkdir(parents=True)
    shutil.copy(QUEUE_SH, repo / "scripts" / "cpu" / "queue.sh")
    ckpt = repo / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}\n")
    (ckpt / "scope.safetensors").write_bytes(b"weights")
    queue = repo / "scripts" / "cpu" / "t.queue"
    queue.write_text("@pack ckpt\nmkdir -p run && echo row > run/rows.txt  # --out run\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    subprocess.run(["git", "commit", "-q", "-m", "start"], cwd=repo, check=True, env=env)
    os.utime(ckpt / "config.json", (1_000_000_000, 1_000_000_000))  # older than the tensors, as a checkout may leave it
    done = subprocess.run(["bash", "scripts/cpu/queue.sh", "scripts/cpu/t.queue"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "nothing staged" not in done.stdout
    assert _git(repo, "show", "HEAD:run/rows.txt") == "row\n"
    assert "mkdir -p run" in _git(repo, "show", "HEAD:scripts/cpu/t.queue.done")
