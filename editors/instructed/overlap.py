"""InstructEd's side of the overlap filter (bench/data/overlap.py): digests of the locality prompts a checkpoint
was trained on, so the editor can refuse cases whose neighbourhood prompts it has seen (`TrainedLocality`)."""

from __future__ import annotations

from bench.data.overlap import EVAL_DATASETS, EvalTexts, Exclusion, normalise, text_digest
from bench.data.schema import LOC, EditCase
from editors.instructed.data import Pair

__all__ = ["EVAL_DATASETS", "EvalTexts", "Exclusion", "normalise", "seen_locality", "text_digest",
           "trained_locality_digests"]


def trained_locality_digests(pairs: list[Pair]) -> list[str]:
    return sorted({text_digest(p.loc.question) for p in pairs})


def seen_locality(case: EditCase, digests: set[str]) -> bool:
    """Whether one of the case's neighbourhood prompts was a training locality prompt."""
    return any(text_digest(q.prompt) in digests for q in case.of_kind(LOC))
