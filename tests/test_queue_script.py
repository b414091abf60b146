"""scripts/cpu/queue.sh: the queue that carries the CPU's long runs across sittings commits what its lines wrote."""

from __future__ import annotations

import lzma
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

QUEUE_SH = Path(__file__).resolve().parents[1] / "scripts" / "cpu" / "queue.sh"
ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
       "GIT_COMMITTER_EMAIL": "t@t", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}

pytestmark = pytest.mark.skipif(shutil.which("git") is None or shutil.which("xz") is None, reason="needs git and xz")


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True, env=ENV).stdout


def _repo(tmp_path: Path, queue: str, files: dict[str, bytes]) -> Path:
    """A scratch repository with the queue script, `files` committed and the queue file `t.queue`."""
    repo = tmp_path / "repo"
    (repo / "scripts" / "cpu").mkdir(parents=True)
    shutil.copy(QUEUE_SH, repo / "scripts" / "cpu" / "queue.sh")
    (repo / "scripts" / "cpu" / "t.queue").write_text(queue)
    for name, data in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_bytes(data)
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "start")
    return repo


def _run_queue(repo: Path) -> str:
    done = subprocess.run(["bash", "scripts/cpu/queue.sh", "scripts/cpu/t.queue"], cwd=repo, env=ENV,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_committed_training_folder_with_newer_tensors_does_not_block_the_snapshot(tmp_path):
    """A fresh checkout gives a finished training's tensors any file time, newer than its config.json included. The
    queue once took that for a save in progress and staged nothing at every snapshot; a folder git sees unchanged
    has nothing to stage, so its file times must not hold back the runs' rows."""
    repo = _repo(tmp_path, "@pack ckpt\nmkdir -p run && echo row > run/rows.txt  # --out run\n",
                 {"ckpt/config.json": b"{}\n", "ckpt/scope.safetensors": b"weights"})
    os.utime(repo / "ckpt" / "config.json", (1_000_000_000, 1_000_000_000))  # older than the tensors, as a checkout
    assert "nothing staged" not in _run_queue(repo)
    assert _git(repo, "show", "HEAD:run/rows.txt") == "row\n"
    assert "mkdir -p run" in _git(repo, "show", "HEAD:scripts/cpu/t.queue.done")


def test_the_queue_leaves_no_unpacked_copy_of_the_rows_it_committed(tmp_path):
    """A start unpacks each named run's cases.jsonl.xz (a run resumes from cases.jsonl); once the queue ends, a
    cases.jsonl equal to its committed .xz goes again, so results/ on disk is what git holds. One that differs stays."""
    rows = b'{"case_id": "1"}\n'
    repo = _repo(tmp_path, "@pack done changed\necho '{\"case_id\": \"2\"}' >> run/cases.jsonl  # --out run\n",
                 {".gitignore": b"cases.jsonl\n", "done/cases.jsonl.xz": lzma.compress(rows),
                  "run/cases.jsonl.xz": lzma.compress(rows), "changed/cases.jsonl.xz": lzma.compress(rows)})
    (repo / "changed" / "cases.jsonl").write_bytes(rows + b"not packed\n")
    os.utime(repo / "changed" / "cases.jsonl", (1_000_000_000, 1_000_000_000))  # older than its .xz: not repacked
    _run_queue(repo)
    assert not (repo / "done" / "cases.jsonl").exists() and not (repo / "run" / "cases.jsonl").exists()
    assert (repo / "changed" / "cases.jsonl").read_bytes() == rows + b"not packed\n"
    committed = subprocess.run(["git", "show", "HEAD:run/cases.jsonl.xz"], cwd=repo, check=True,
                               capture_output=True).stdout
    assert lzma.decompress(committed) == rows + b'{"case_id": "2"}\n'  # the line's row was packed and committed first
