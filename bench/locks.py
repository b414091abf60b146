"""Exclusive locks on folders (a run directory, a cache being built), held by one process at a time.

An `fcntl.flock` on a `.lock` file: the kernel drops it when its holder dies, so the lock of a killed process
is taken over by the next one without any clean-up. The file also names the holder for the error message.
flock is per host: processes on different machines sharing a network folder are not excluded.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from datetime import datetime
from pathlib import Path

from bench.errors import BenchError

LOCK_NAME = ".lock"


class LockHeld(BenchError):
    """Another live process holds the lock."""


class FolderLock:
    """`with FolderLock(folder, what):` or acquire()/release(); re-acquiring in the holder is a no-op."""

    def __init__(self, folder: str | Path, what: str = "this folder"):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.what = what
        self._fd: int | None = None

    def acquire(self, wait: float = 0.0) -> FolderLock:
        """Take the lock, waiting up to `wait` seconds for a holder to finish; LockHeld names the holder."""
        if self._fd is not None:
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_holder(fd)
                    os.close(fd)
                    raise LockHeld(
                        f"{self.what} {self.folder} is being written by another process ({holder}). Wait for it to "
                        f"finish or stop it; two writers would duplicate or mix rows. Nothing was written.") from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(_holder_record()).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _holder_record() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "since": datetime.now().isoformat(timespec="seconds"),
            "command": " ".join(sys.argv)}


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096).decode() or "{}")
    except (OSError, ValueError):
        return "holder unknown"
    return (f"pid {info.get('pid')} on {info.get('host')} since {info.get('since')}: "
            f"{info.get('command') or 'command unknown'}")
