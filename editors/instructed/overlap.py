"""Keep InstructEd's training data apart from every evaluation dataset the harness ships.

EasyEdit's counterfact-train shares neighbourhood prompts with the CounterFact evaluation file (the review
found 476 of 2,000 evaluated prompts trained on, with a gold-answer rate of 69.7% on those against 46.4%
on unseen ones), and prompts cross roles: 18 of the first 2,000 CounterFact neighbourhood prompts are rewrite
prompts of kept training records, and two edit prompts (cases 124 and 712) were training locality prompts (issue
37). So the comparison ignores roles: a training record is dropped when any prompt it trains on (its edit
example's question, its locality example's question, the prompts of the rewrites its instruction states) is any
prompt an evaluation case shows the model (any query, any rewrite prompt), or when one of its rewrite sentences is
an evaluation case's; MQuAKE records borrow their locality prompt from a pool, which is filtered the same way.
Texts are compared after lower-casing and collapsing white space. The checkpoint lets the editor refuse a case
that shows the model a prompt it was trained on, in any role (trained_cases.py).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

from bench.data import load_dataset
from bench.data.schema import EditCase, Query
from bench.errors import BenchError
from editors.instructed.data import Pair

log = logging.getLogger(__name__)

# Datasets the harness evaluates on (the training splits -train/-val and the MQuAKE train side are not).
EVAL_DATASETS = ("counterfact", "counterfact-edit", "zsre", "counterfact-subject-replace",
                 "zsre-subject-replace", "zsre-inverse", "mquake-test")
REWRITE = "rewrite"  # the role of a rewrite's prompt, beside the query kinds (bench.data.schema)


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


def text_digest(text: str) -> str:
    return hashlib.sha1(normalise(text).encode()).hexdigest()[:16]


def trained_prompts(pair: Pair) -> list[str]:
    """Every prompt one training record trains on, whatever its role."""
    return [pair.edit.question, pair.loc.question, *pair.rewrite_prompts]


def evaluated_prompts(case: EditCase) -> list[tuple[str, str]]:
    """(role, prompt) of every prompt an evaluation of `case` shows the model: its queries (role: their kind) and
    the prompts of its rewrites, which its instruction states."""
    return [(q.kind, q.prompt) for q in case.queries] + [(REWRITE, e.prompt) for e in case.edits if e.prompt]


@dataclass
class EvalTexts:
    """The prompts (any role) and rewrite sentences of the evaluation datasets (normalised)."""

    prompts: set[str] = field(default_factory=set)
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
            self.prompts.update(normalise(prompt) for _, prompt in evaluated_prompts(case))
            self.rewrites.update(normalise(e.sentence) for e in case.edits if e.sentence)

    def overlaps(self, pair: Pair, rewrites: list[str]) -> bool:
        """Whether a record trains on an evaluated prompt (any role on either side) or states an evaluated rewrite
        sentence (`rewrites`: the record's)."""
        return (any(normalise(p) in self.prompts for p in trained_prompts(pair))
                or any(normalise(r) in self.rewrites for r in rewrites))

    def clean_pool(self, pool: list[Query]) -> list[Query]:
        return [q for q in pool if normalise(q.prompt) not in self.prompts]


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


def trained_locality_digests(pairs: list[Pair]) -> list[str]:
    return sorted({text_digest(p.loc.question) for p in pairs})


def trained_prompt_digests(pairs: list[Pair]) -> list[str]:
    """Digests of every prompt `pairs` train on (any role)."""
    return sorted({text_digest(prompt) for p in pairs for prompt in trained_prompts(p)})


def seen_prompts(case: EditCase, digests: set[str] | frozenset[str]) -> list[tuple[str, str]]:
    """(role, prompt) of the prompts an evaluation of `case` shows the model that are among trained `digests`."""
    return [(role, prompt) for role, prompt in evaluated_prompts(case) if text_digest(prompt) in digests]
