"""The rows a committed run keeps: its cases.jsonl packed as cases.jsonl.xz.

results/ commits most runs without cases.jsonl (summary.csv and per_case.csv are enough for the tables); where the
explorer's case browser or `bench.load_run(...).rows` needs a run's rows, they are committed packed. xz, because
a run's rows repeat the same prompts at every checkpoint, further apart than gzip's 32 KB window: a 100-edit
stream packs about three times smaller than with gzip. Runs packed earlier with gzip (cases.jsonl.gz) are read
the same way. Packing is deterministic (no timestamp), so the same rows give the same bytes.
"""

from __future__ import annotations

import gzip
import json
import lzma
import tempfile
from pathlib import Path

from bench.atomic import atomic_write
from bench.runlog import PACKED_FILES, RunLog

PACKED = next(iter(PACKED_FILES))  # what write_packed writes
OPENERS = {name: {"xz": lzma.open, "gzip": gzip.open}[tool] for name, tool in PACKED_FILES.items()}  # first found


def packed_path(run_dir: Path) -> Path | None:
    """The run's packed rows file, or None."""
    return next((Path(run_dir) / n for n in OPENERS if (Path(run_dir) / n).exists()), None)


def packed_records(run_dir: Path) -> list[dict]:
    """Every line of the packed file as written (unit marks and `written_with` included); [] without one."""
    path = packed_path(run_dir)
    if path is None:
        return []
    with OPENERS[path.name](path, "rb") as fh:
        return [json.loads(line) for line in fh.read().splitlines() if line.strip()]


def packed_rows(run_dir: Path) -> list[dict]:
    """The complete rows of the packed file, read as `RunLog.rows()` reads cases.jsonl; [] without one."""
    path = packed_path(run_dir)
    if path is None:
        return []
    with tempfile.TemporaryDirectory() as tmp, OPENERS[path.name](path, "rb") as src:
        (Path(tmp) / "cases.jsonl").write_bytes(src.read())
        return RunLog(Path(tmp)).rows()


def write_packed(run_dir: Path, records: list[dict]) -> Path:
    """Replace the run's packed rows with `records` (as cases.jsonl.xz; an older cases.jsonl.gz is removed)."""
    text = "".join(json.dumps(r) + "\n" for r in records).encode()
    path = atomic_write(Path(run_dir) / PACKED,
                        lambda tmp: tmp.write_bytes(lzma.compress(text, preset=9 | lzma.PRESET_EXTREME)))
    for older in OPENERS:
        if older != PACKED:
            (Path(run_dir) / older).unlink(missing_ok=True)
    return path
