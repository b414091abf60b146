"""The one way files are published: written under a unique temporary name beside the target, flushed to
disk, then renamed over it, so a reader (or a resumed run) sees the old file or the new one, never a torn one."""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Callable
from pathlib import Path

from bench.errors import BenchError


def temporary_sibling(path: Path, suffix: str = "tmp") -> Path:
    """A name in the target's folder (rename is atomic only within one file system) that no other writer uses."""
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.{suffix}")


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call `write(tmp)` to write the content, then publish it as `path`; on failure the target is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(path)
    try:
        write(tmp)
        fsync_file(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS):
            raise
        raise BenchError(f"writing {path} failed ({exc.strerror}); the file is as it was. Free space (or raise the "
                         "limit), then rerun with --resume.") from None
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def fsync_file(path: Path) -> None:
    with Path(path).open("rb") as fh:
        os.fsync(fh.fileno())


def fsync_dir(folder: Path) -> None:
    """Make a rename durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
