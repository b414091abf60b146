"""Cache folders built once and shared by every later run, safe against a killed build and against racing builders.

A folder is built under a unique temporary name beside its target, a completion marker is written into it last,
and it is published with `os.replace`. A folder without a valid marker (a build killed part-way, or an old cache
extracted in place) counts as absent and is rebuilt. Builders of one target take an `fcntl.flock` on a lock file
next to it, so a second process waits for the first and then uses its result instead of rewriting files the first
may already have memory-mapped (which killed it with SIGBUS before).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from bench.atomic import fsync_dir, fsync_file, temporary_sibling

logger = logging.getLogger(__name__)

MARKER = ".complete.json"


def cached_folder(target: Path, build: Callable[[Path], dict | None], what: str) -> Path:
    """Return `target`, first building it with `build(tmp_folder)` unless a complete copy exists.

    `build` fills the empty folder it is given and may return extra facts (digests, sources) for the marker.
    """
    if is_complete(target):
        return target
    with build_lock(target, what):
        if is_complete(target):  # another process built it while we waited
            return target
        _remove_stale(target)
        tmp = temporary_sibling(target, "partial")
        tmp.mkdir(parents=True)
        try:
            extra = build(tmp) or {}
            write_marker(tmp, what, extra)
            _publish(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def is_complete(folder: Path) -> bool:
    """True when the marker exists and every file it lists has the recorded size (cheap: no hashing)."""
    try:
        files = json.loads((folder / MARKER).read_text(encoding="utf-8"))["files"]
        return all((folder / rel).stat().st_size == size for rel, size in files.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def write_marker(folder: Path, what: str, extra: dict) -> None:
    """Flush every file, then write the marker (sizes of all files) last, itself flushed."""
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MARKER):
        fsync_file(path)
        files[path.relative_to(folder).as_posix()] = path.stat().st_size
    record = {"what": what, "built": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "files": files, **extra}
    marker = folder / MARKER
    marker.write_text(json.dumps(record, indent=1), encoding="utf-8")
    fsync_file(marker)


@contextmanager
def build_lock(target: Path, what: str) -> Iterator[None]:
    """Hold an exclusive flock on `.<name>.lock` beside `target`; the kernel frees it if the holder dies."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target.with_name(f".{target.name}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.info("waiting for another process that is building %s (%s)", what, target)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _remove_stale(target: Path) -> None:
    """Delete temporary folders left by killed builders (only lock holders build, so none is live now)."""
    for stale in target.parent.glob(f".{target.name}.*.partial"):
        logger.info("removing %s, left by an interrupted build", stale)
        _remove(stale)


def _publish(tmp: Path, target: Path) -> None:
    """Rename the finished folder into place, first moving an incomplete old one aside (rename needs an empty
    or missing target); readers of the old folder keep their open files."""
    if target.exists() or target.is_symlink():
        trash = temporary_sibling(target, "partial")
        logger.info("replacing the incomplete cache %s (no completion marker)", target)
        os.replace(target, trash)
        _remove(trash)
    os.replace(tmp, target)
    fsync_dir(target.parent)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
