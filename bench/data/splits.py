"""Deterministic train/test sides of a dataset, fixed by a hash of each case id.

InstructEd trains on one side of the MQuAKE subset; the harness evaluates on the
other (`mquake-test`), so the split lives here, not in an editor.
"""

from __future__ import annotations

import hashlib
import json

from bench.data.schema import EditCase
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


def case_fingerprint(case: EditCase) -> str:
    """Identity of a case's rewrites, independent of file and id (catches a case present in two files)."""
    key = sorted((e.subject, e.prompt, e.target_new) for e in case.edits)
    return hashlib.sha256(json.dumps(key).encode()).hexdigest()[:16]


def split_side(cases: list[EditCase], side: str) -> list[EditCase]:
    """The cases on `side` ('train' or 'test') of the default split.

    MQuAKE repeats a rewrite across cases with different multi-hop questions; a test case whose
    rewrites equal a train case's would be seen in training, so the test side leaves those out."""
    train_ids, _ = mquake_split([c.case_id for c in cases])
    chosen = set(train_ids)
    train = [c for c in cases if c.case_id in chosen]
    if side == "train":
        return train
    return without_rewrites_of([c for c in cases if c.case_id not in chosen], train)


def without_rewrites_of(cases: list[EditCase], seen: list[EditCase]) -> list[EditCase]:
    """`cases` whose rewrites no case of `seen` has (what an editor trained on `seen` never saw)."""
    known = {case_fingerprint(c) for c in seen}
    return [c for c in cases if case_fingerprint(c) not in known]
