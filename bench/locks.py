"""Exclusive locks on folders (a run directory, a cache being built), held by one process at a time.

An `fcntl.flock` on a `.lock` file: the kernel drops it when its holder dies, so the lock of a killed process
is taken over by the next one without any clean-up. The file also names the holder for the error message.
flock is per host: processes on different machines sharing a network folder are not excluded, so taking over a
lock last held on another host is said. The lock file is never a link: one planted there is refused, not followed.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import sys
import time
from datetime import datetime
from pathlib import Path

from bench.errors import BenchError

LOCK_NAME = ".lock"

logger = logging.getLogger(__name__)


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
        fd = self._open()
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
        _say_if_other_host(fd, self.path)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(_holder_record()).encode())
        self._fd = fd
        return self

    def _open(self) -> int:
        """The lock file, created if need be; a link, a folder or an unwritable place is a clear error."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                why = "is a symbolic link; the harness does not write through links it did not make"
            elif exc.errno == errno.EISDIR:
                why = "is a folder"
            else:
                why = f"cannot be created ({exc.strerror})"
            raise BenchError(f"the lock file {self.path} of {self.what} {self.folder} {why}. Remove it (or choose "
                             "another folder) and rerun; nothing was written.") from None

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


def _holder_info(fd: int) -> dict | None:
    """The record the lock's last holder wrote (`_holder_record`), or None when it cannot be read."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096).decode() or "{}")
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _say_if_other_host(fd: int, path: Path) -> None:
    """flock does not reach across machines: a lock last taken on another host may belong to a live run there."""
    info = _holder_info(fd) or {}
    host = info.get("host")
    if host and host != socket.gethostname():
        logger.warning("%s was last taken on another host (%s, pid %s, since %s): this host cannot see whether that "
                       "process still runs. If it does, stop one of the two; two writers would mix rows.",
                       path, host, info.get("pid"), info.get("since"))


def _read_holder(fd: int) -> str:
    info = _holder_info(fd)
    if info is None:
        return "holder unknown"
    return (f"pid {info.get('pid')} on {info.get('host')} since {info.get('since')}: "
            f"{info.get('command') or 'command unknown'}")
