"""Deterministic train/test sides of a dataset, fixed by a hash of each case id.

InstructEd trains on one side of the MQuAKE subset; the harness evaluates on the
other (`mquake-test`), so the split lives here, not in an editor.
"""

from __future__ import annotations

import hashlib

from bench.errors import BenchError

SPLIT_SALT = "instructed-mquake-split-v1"
DEFAULT_TRAIN_FRACTION = 0.5


def stable_unit(text: str) -> float:
    """A number in [0, 1) fixed by `text` (same on every machine and Python run)."""
    return int(hashlib.sha256(text.encode()).hexdigest()[:12], 16) / 16**12


def mquake_split(case_ids: list[str], train_fraction: float = DEFAULT_TRAIN_FRACTION) -> tuple[list[str], list[str]]:
    """(train ids, test ids): a case's side is fixed by a hash of its id, so the split is deterministic,
    disjoint, and the same for the subset and the full file."""
    if not 0.0 < train_fraction < 1.0:
        raise BenchError(f"the MQuAKE train fraction must be between 0 and 1, got {train_fraction}")
    train = [c for c in case_ids if stable_unit(f"{SPLIT_SALT}:{c}") < train_fraction]
    chosen = set(train)
    return train, [c for c in case_ids if c not in chosen]


def split_side(case_ids: list[str], side: str) -> set[str]:
    """The ids on `side` ('train' or 'test') of the default split."""
    train, test = mquake_split(case_ids)
    return set(train if side == "train" else test)
