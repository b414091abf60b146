"""Training examples for InstructEd (the MQuAKE train/test split is bench.data.splits).

Per record (docs/architecture.md section 5): one edit example (the case's instruction + a paraphrase, or the
first multi-hop question for MQuAKE -> the new answer) and one locality example (the same instruction
+ an unrelated prompt -> its original answer). MQuAKE has no locality prompts, so, like the authors'
code, its locality example borrows one from a pool (CounterFact neighbourhood prompts), chosen by a
stable hash so the data does not depend on iteration order.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.data.schema import GEN, LOC, NHOP, REL, EditCase, Query
from bench.data.splits import case_fingerprint, stable_unit
from bench.errors import BenchError
from editors.instructed.instructions import case_instruction


@dataclass(frozen=True)
class Example:
    instruction: str
    question: str
    answer: str
    kind: str  # "edit" | "loc"


@dataclass(frozen=True)
class Pair:
    """The two training examples one record yields, and where it came from."""

    edit: Example
    loc: Example
    dataset: str
    case_id: str
    fingerprint: str
    rewrite_prompts: tuple[str, ...] = ()  # the prompts of the rewrites its instruction states


def edit_query(case: EditCase) -> Query:
    """The question of the edit example: first multi-hop question, else first paraphrase, else the edit prompt."""
    for kind in (NHOP, GEN, REL):
        found = case.of_kind(kind)
        if found:
            return found[0]
    raise BenchError(f"case {case.case_id} has no query to build a training example from")


def locality_pool(cases: list[EditCase]) -> list[Query]:
    return [q for case in cases for q in case.of_kind(LOC)]


def build_pair(case: EditCase, pool: list[Query], seed: int = 0) -> Pair:
    instruction = case_instruction(case)
    q = edit_query(case)
    own = case.of_kind(LOC)
    if own:
        loc = own[0]
    elif pool:
        loc = pool[int(stable_unit(f"{seed}:{case.dataset}:{case.case_id}") * len(pool))]
    else:
        raise BenchError(
            f"case {case.case_id} ({case.dataset}) has no locality prompt and the locality pool is empty; "
            "train together with a dataset that has locality prompts (e.g. counterfact-train)"
        )
    return Pair(
        edit=Example(instruction, q.prompt, q.answer, "edit"),
        loc=Example(instruction, loc.prompt, loc.answer, "loc"),
        dataset=case.dataset, case_id=case.case_id, fingerprint=case_fingerprint(case),
        rewrite_prompts=rewrite_prompts(case),
    )


def rewrite_prompts(case: EditCase) -> tuple[str, ...]:
    return tuple(e.prompt for e in case.edits if e.prompt)


def build_pairs(cases: list[EditCase], pool: list[Query] | None = None, seed: int = 0) -> list[Pair]:
    """One Pair per case; cases without their own locality prompt borrow from `pool` (default: these cases')."""
    pool = locality_pool(cases) if pool is None else pool
    return [build_pair(case, pool, seed) for case in cases]


def select_cases(cases: list[EditCase], ids: list[str]) -> list[EditCase]:
    keep = set(ids)
    return [c for c in cases if c.case_id in keep]
