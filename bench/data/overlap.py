"""Keep a trained editor's training data apart from every evaluation dataset the harness ships (InstructEd, SERAC).

EasyEdit's counterfact-train shares neighbourhood prompts with the CounterFact evaluation file (the review
found 476 of 2,000 evaluated prompts trained on, with a gold-answer rate of 69.7% on those against 46.4%
on unseen ones), and prompts cross roles: 18 of the first 2,000 CounterFact neighbourhood prompts are rewrite
prompts of kept InstructEd training records, and two edit prompts (cases 124 and 712) were training locality
prompts (issue 37). So the comparison ignores roles: a training record is dropped when any prompt it trains on
(InstructEd: its edit and locality questions and its rewrites' prompts; SERAC: every query and rewrite prompt of
its case) is any prompt an evaluation case shows the model (any query, any rewrite prompt), or when one of its
rewrite sentences is an evaluation case's; MQuAKE records borrow their locality prompt from a pool, which is
filtered the same way. Texts are compared after lower-casing and collapsing white space. A checkpoint trained with
this filter says so (`Exclusion.roles`); one trained before (every checkpoint before 2026-12-06) compared locality
prompts with locality prompts only. InstructEd's editor refuses the cases that show the model a prompt its
checkpoint trained on (`seen_prompts`; editors/instructed/overlap.py and trained_cases.py): any overlap for a
checkpoint filtered across roles, only the overlap the guard of 42a5d1a refused for one trained before
(`Overlap.same_role`), the others reported.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bench.data import load_dataset
from bench.data.schema import LOC, EditCase, Query
from bench.errors import BenchError

log = logging.getLogger(__name__)

# Datasets the harness evaluates on (the training splits -train/-val and the MQuAKE train side are not).
EVAL_DATASETS = ("counterfact", "counterfact-edit", "zsre", "counterfact-subject-replace",
                 "zsre-subject-replace", "zsre-inverse", "mquake-test")
REWRITE = "rewrite"  # the role of a rewrite's prompt, beside the query kinds (bench.data.schema)
ACROSS_ROLES = "cross"  # Exclusion.roles of a checkpoint whose data was filtered across roles (issue 37)


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


def text_digest(text: str) -> str:
    return hashlib.sha1(normalise(text).encode()).hexdigest()[:16]


def evaluated_prompts(case: EditCase) -> list[tuple[str, str]]:
    """(role, prompt) of every prompt an evaluation of `case` shows the model: its queries (role: their kind) and
    the prompts of its rewrites, which an instruction states (SERAC's training trains on the same of a case)."""
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

    def overlaps(self, prompts: Iterable[str], rewrites: Iterable[str]) -> bool:
        """Whether a training record that trains on `prompts` (any role) and states the rewrite sentences `rewrites`
        touches an evaluation set (any role on this side too)."""
        return (any(normalise(p) in self.prompts for p in prompts)
                or any(normalise(r) in self.rewrites for r in rewrites))

    def overlaps_case(self, case: EditCase) -> bool:
        """A training case trained on in full (every query and rewrite prompt) against the evaluation sets."""
        return self.overlaps([p for _, p in evaluated_prompts(case)], [e.sentence for e in case.edits])

    def clean_pool(self, pool: list[Query]) -> list[Query]:
        return [q for q in pool if normalise(q.prompt) not in self.prompts]


@dataclass
class Exclusion:
    """What the overlap filter removed (recorded in the checkpoint's config)."""

    datasets: list[str]
    records_removed: int
    records_kept: int
    pool_removed: int
    roles: str = ACROSS_ROLES  # prompts compared whatever their roles; absent from checkpoints trained before

    def to_json(self) -> dict:
        return {"datasets": self.datasets, "records_removed": self.records_removed,
                "records_kept": self.records_kept, "pool_removed": self.pool_removed, "roles": self.roles}


def filtered_across_roles(exclusion: dict) -> bool:
    """Whether a checkpoint's recorded exclusion (config.json) compared prompts across roles."""
    return exclusion.get("roles") == ACROSS_ROLES


@dataclass(frozen=True)
class Overlap:
    """A prompt an evaluation of a case shows the model that the checkpoint trained on."""

    role: str  # in the evaluation: a query kind or REWRITE
    prompt: str
    trained_as: tuple[str, ...]  # its roles in training (InstructEd: edit, LOC, REWRITE)

    @property
    def same_role(self) -> bool:
        """A neighbourhood prompt trained as a locality prompt: the one overlap the guard of 42a5d1a compared,
        which checkpoints trained before the filter across roles still refuse."""
        return self.role == LOC and LOC in self.trained_as

    def describe(self) -> str:
        return f"its {self.role} prompt {self.prompt!r} was a training {'/'.join(self.trained_as)} prompt"


def roles_by_digest(pairs: Iterable[tuple[str, str]]) -> dict[str, frozenset[str]]:
    """digest -> the roles its prompt was trained in, from (role, digest) pairs."""
    roles: dict[str, set[str]] = {}
    for role, prompt_digest in pairs:
        roles.setdefault(prompt_digest, set()).add(role)
    return {d: frozenset(r) for d, r in roles.items()}


def seen_prompts(case: EditCase, trained: Mapping[str, frozenset[str]]) -> list[Overlap]:
    """The prompts an evaluation of `case` shows the model that were trained on (`trained`: digest -> roles)."""
    found = [(role, prompt, trained.get(text_digest(prompt))) for role, prompt in evaluated_prompts(case)]
    return [Overlap(role, prompt, tuple(sorted(roles))) for role, prompt, roles in found if roles]
