"""IKE's prompt format (Zheng et al. 2023, as EasyEdit writes it).

Every block reads `New Fact: <fact>\\nPrompt: <prompt>`; a demonstration also
carries its answer and a blank line. One training case yields three demos:
copy (edit prompt -> new target), update (paraphrase -> new target) and
retain (unrelated prompt -> its own answer), in that order.
"""

from __future__ import annotations

from bench.data.schema import GEN, LOC, EditCase
from bench.scoring import join_prompt_target


def fact_block(fact: str, prompt: str) -> str:
    return f"New Fact: {fact}\nPrompt: {prompt}"


def demo(fact: str, prompt: str, answer: str) -> str:
    return fact_block(fact, join_prompt_target(prompt, answer)) + "\n\n"


def case_demos(case: EditCase) -> list[str]:
    """[copy, update, retain] of one training case (kinds the case lacks are left out)."""
    fact = case.instruction
    first = case.edits[0]
    demos = [demo(fact, first.prompt, first.target_new)]
    for kind in (GEN, LOC):
        queries = case.of_kind(kind)
        if queries:
            demos.append(demo(fact, queries[0].prompt, queries[0].answer))
    return demos


def retrieval_text(case: EditCase) -> str:
    """What a case is embedded as when retrieving: its edit sentence(s)."""
    return case.instruction
