"""Probe queries a run adds to each case's own: unrelated-prompt locality, distracting neighbours, fluency prompts.

They are queries like the dataset's (the editor sees and answers them the same way), appended after the case's
own so that every earlier query keeps its index. Which probes a run adds is one of its options
(`ProbeConfig`, recorded in config.json and checked on resume).

- `LOC_UNRELATED`: the paper's locality "on a randomly selected and unrelated data point". For each case, `n`
  other cases of the same dataset file, drawn with a generator seeded by the case id alone (the same draw at any
  --limit and run seed), whose relation differs where both are known and whose subject differs and appears in
  neither prompt; their edit prompt, answered with their true object (the new one where a record has none).
- `LOC_DISTRACT`: CounterFact+'s distracting neighbourhood: each LOC prompt after the case's first edit stated as
  a sentence ("Spike Hughes originates from Philadelphia. Max Mosley originates from").
- `FLUENCY`: ROME's generation prompts where the record ships them (full CounterFact records), else the case's
  edit and paraphrase prompts that are statements (flat CounterFact records), else the edit's subject alone (ZsRE,
  whose prompts are all questions: an instruction-tuned model ends its turn after a bare question, SmolLM2-135M
  with probability 0.66 on ZsRE's first case, which leaves no text to score); the first `fluency` of them.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, replace

from bench.data.schema import FLUENCY, GEN, LOC, LOC_DISTRACT, LOC_UNRELATED, REL, EditCase, Query
from bench.errors import BenchError


@dataclass(frozen=True)
class ProbeConfig:
    unrelated: int = 5  # unrelated prompts per case (0: none)
    distracting: bool = True  # the distracting-neighbourhood copies of each LOC prompt
    fluency: int = 0  # fluency prompts per case (0: none)

    def __post_init__(self):
        if self.unrelated < 0 or self.fluency < 0:
            raise BenchError(f"--loc-unrelated {self.unrelated} and --fluency-prompts {self.fluency} must be >= 0")

    @property
    def active(self) -> bool:
        return bool(self.unrelated or self.distracting or self.fluency)


def with_probes(cases: list[EditCase], pool: list[EditCase], cfg: ProbeConfig) -> list[EditCase]:
    """`cases` with their probe queries appended; `pool`: the dataset's cases the unrelated prompts come from."""
    if not cfg.active:
        return cases
    return [replace(case, queries=[*case.queries, *probe_queries(case, pool, cfg)]) for case in cases]


def probe_queries(case: EditCase, pool: list[EditCase], cfg: ProbeConfig) -> list[Query]:
    out = unrelated_queries(case, pool, cfg.unrelated) if cfg.unrelated else []
    if cfg.distracting and case.edits:
        edit = case.edits[0]
        out += [Query(LOC_DISTRACT, f"{edit.prompt} {edit.target_new}. {q.prompt}", q.answer)
                for q in case.of_kind(LOC)]
    if cfg.fluency:
        prompts = list(case.extra.get("generation_prompts") or ()) or fluency_fallback(case)
        out += [Query(FLUENCY, p, "") for p in list(dict.fromkeys(prompts))[:cfg.fluency]]
    return out


def fluency_fallback(case: EditCase) -> list[str]:
    """Fluency prompts of a record that ships no generation prompts (module docstring): its statement prompts,
    or the edit's subject where every prompt is a question."""
    statements = [q.prompt for q in case.queries if q.kind in (REL, GEN) and not q.prompt.rstrip().endswith("?")]
    return statements or [e.subject for e in case.edits if e.subject]


def unrelated_queries(case: EditCase, pool: list[EditCase], n: int) -> list[Query]:
    """`n` prompts of other cases with other relations and subjects (module docstring); fewer if the pool lacks."""
    seed = int.from_bytes(hashlib.sha256(f"unrelated:{case.case_id}".encode()).digest()[:8], "big")
    order = list(range(len(pool)))
    random.Random(seed).shuffle(order)
    out: list[Query] = []
    for i in order:
        other = pool[i]
        if len(out) == n:
            break
        if other.case_id != case.case_id and other.edits and _unrelated(case, other):
            edit = other.edits[0]
            out.append(Query(LOC_UNRELATED, edit.prompt, edit.target_true or edit.target_new))
    return out


def _unrelated(case: EditCase, other: EditCase) -> bool:
    mine = {e.relation_id for e in case.edits if e.relation_id}
    theirs = {e.relation_id for e in other.edits if e.relation_id}
    if mine & theirs:
        return False
    subjects = {e.subject for e in case.edits if e.subject}
    other_subjects = {e.subject for e in other.edits if e.subject}
    mine_text = " ".join(q.prompt for q in case.queries)
    return not (subjects & other_subjects) and not any(s in mine_text for s in other_subjects) \
        and not any(s in other.edits[0].prompt for s in subjects)
