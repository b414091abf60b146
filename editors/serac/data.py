"""SERAC's training data: edits of the training splits, minus every record that touches an evaluation set.

The scope classifier learns from (edit, query) pairs of these cases (pairs.py); the counterfactual model from
each case's in-scope queries (the edit prompt and its paraphrases) written as "edit: <edit> query: <query>"
-> the new answer (paper Eq. 3). A case is dropped when any of its prompts (queries and rewrite prompts, whatever
their roles on either side) is a prompt of an evaluation dataset, or one of its rewrites is one of that dataset's
(bench/data/overlap.py, the filter InstructEd's training uses), so neither part is trained on a prompt the harness
scores.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from bench.data import load_dataset
from bench.data.overlap import EvalTexts, Exclusion
from bench.data.schema import GEN, REL, EditCase
from bench.scoring import Prepared
from editors.serac.counterfactual import counterfactual_prompt


@dataclass
class TrainingData:
    cases: list[EditCase]
    exclusion: Exclusion | None


def training_cases(specs: list[str], data_dir, limit: int, seed: int, exclude: EvalTexts | None) -> TrainingData:
    """Single-edit cases with in-scope queries (CounterFact, ZsRE; MQuAKE's multi-hop cases have none) of each
    spec that do not overlap `exclude`, each spec shuffled with `seed` and capped at `limit` (0: all)."""
    kept: list[EditCase] = []
    removed = 0
    for spec in specs:
        usable = [c for c in load_dataset(spec, data_dir) if len(c.edits) == 1 and in_scope_queries(c)]
        clean = [c for c in usable if exclude is None or not exclude.overlaps_case(c)]
        removed += len(usable) - len(clean)
        random.Random(seed).shuffle(clean)
        kept += clean[:limit] if limit else clean
    exclusion = Exclusion(exclude.datasets, removed, len(kept), 0) if exclude is not None else None
    return TrainingData(kept, exclusion)


def in_scope_queries(case: EditCase):
    return [q for q in case.queries if q.kind in (REL, GEN)]


def counterfactual_examples(cases: list[EditCase]) -> list[Prepared]:
    """Every in-scope query of every case, conditioned on the case's edit, with the new answer as target."""
    return [Prepared(counterfactual_prompt(case.edits[0], q.prompt), q.answer)
            for case in cases for q in in_scope_queries(case)]
