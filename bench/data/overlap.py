"""Keep a trained editor's training data apart from every evaluation dataset the harness ships (InstructEd, SERAC).

EasyEdit's counterfact-train shares neighbourhood prompts with the CounterFact evaluation file (the review
found 476 of 2,000 evaluated prompts trained on, with a gold-answer rate of 69.7% on those against 46.4%
on unseen ones). A training record is dropped when its locality prompt is a locality prompt of an
evaluation case, or when one of its rewrites is a rewrite of an evaluation case; MQuAKE records borrow
their locality prompt from a pool, which is filtered the same way. Texts are compared after lower-casing
and collapsing white space. The checkpoint stores short digests of the locality prompts it was trained on,
so the editor can refuse cases whose neighbourhood prompts it has seen (editors/instructed/overlap.py).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

from bench.data import load_dataset
from bench.data.schema import LOC, EditCase, Query
from bench.errors import BenchError

log = logging.getLogger(__name__)

# Datasets the harness evaluates on (the training splits -train/-val and the MQuAKE train side are not).
EVAL_DATASETS = ("counterfact", "counterfact-edit", "zsre", "counterfact-subject-replace",
                 "zsre-subject-replace", "zsre-inverse", "mquake-test")


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


def text_digest(text: str) -> str:
    return hashlib.sha1(normalise(text).encode()).hexdigest()[:16]


@dataclass
class EvalTexts:
    """The locality prompts and rewrite sentences of the evaluation datasets (normalised)."""

    locality: set[str] = field(default_factory=set)
    rewrites: set[str] = field(default_factory=set)
    datasets: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, data_dir, names: tuple[str, ...] = EVAL_DATASETS) -> EvalTexts:
        out = cls()
        for name in names:
            try:
                cases = load_dataset(name, data_dir)
            except BenchError:  # a data dir without this file: nothing of it can overlap
                log.warning("overlap check: dataset %s not found in the data dir; skipped", name)
                continue
            out.add(cases)
            out.datasets.append(name)
        return out

    def add(self, cases: list[EditCase]) -> None:
        for case in cases:
            self.locality.update(normalise(q.prompt) for q in case.of_kind(LOC))
            self.rewrites.update(normalise(e.sentence) for e in case.edits if e.sentence)

    def overlaps(self, locality: list[str], rewrites: list[str]) -> bool:
        """Whether a training record with these locality prompts and rewrite sentences touches an evaluation set."""
        return any(normalise(t) in self.locality for t in locality) or any(normalise(r) in self.rewrites
                                                                             for r in rewrites)

    def overlaps_case(self, case: EditCase) -> bool:
        """A training case's own locality prompts and rewrites against the evaluation sets."""
        return self.overlaps([q.prompt for q in case.of_kind(LOC)], [e.sentence for e in case.edits])

    def clean_pool(self, pool: list[Query]) -> list[Query]:
        return [q for q in pool if normalise(q.prompt) not in self.locality]


@dataclass
class Exclusion:
    """What the overlap filter removed (recorded in the checkpoint's config)."""

    datasets: list[str]
    records_removed: int
    records_kept: int
    pool_removed: int

    def to_json(self) -> dict:
        return {"datasets": self.datasets, "records_removed": self.records_removed,
                "records_kept": self.records_kept, "pool_removed": self.pool_removed}
