"""InstructEd's side of the overlap filter (bench/data/overlap.py): the prompts one training record trains on, in
their roles, and their digests, which the checkpoint stores so the editor can refuse a case that shows the model a
prompt it was trained on (trained_cases.py)."""

from __future__ import annotations

from bench.data.overlap import EVAL_DATASETS, REWRITE, EvalTexts, Exclusion, normalise, text_digest
from bench.data.schema import LOC
from editors.instructed.data import Pair

__all__ = ["EDIT", "EVAL_DATASETS", "EvalTexts", "Exclusion", "normalise", "record_overlaps", "text_digest",
           "trained_locality_digests", "trained_prompt_digests", "trained_prompts"]

EDIT = "edit"  # the role of a training record's edit question (its locality question's role is LOC)


def trained_prompts(pair: Pair) -> list[tuple[str, str]]:
    """(role, prompt) of every prompt one training record trains on."""
    return [(EDIT, pair.edit.question), (LOC, pair.loc.question), *((REWRITE, p) for p in pair.rewrite_prompts)]


def record_overlaps(evaluation: EvalTexts, pair: Pair, rewrites: list[str]) -> bool:
    """Whether a record trains on an evaluated prompt (any role on either side) or states an evaluated rewrite
    sentence (`rewrites`: the record's)."""
    return evaluation.overlaps([prompt for _, prompt in trained_prompts(pair)], rewrites)


def trained_locality_digests(pairs: list[Pair]) -> list[str]:
    return sorted({text_digest(p.loc.question) for p in pairs})


def trained_prompt_digests(pairs: list[Pair]) -> dict[str, list[str]]:
    """Per role, the digests of the prompts `pairs` train on in it."""
    by_role: dict[str, set[str]] = {}
    for pair in pairs:
        for role, prompt in trained_prompts(pair):
            by_role.setdefault(role, set()).add(text_digest(prompt))
    return {role: sorted(digests) for role, digests in sorted(by_role.items())}
