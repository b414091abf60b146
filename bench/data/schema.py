"""Typed records every loader produces and every editor consumes.

One `EditCase` is the unit the protocols iterate over: the edit(s) to make and
the probe queries that measure them. Loaders differ only in how they fill it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Query kinds, i.e. which metric a query feeds.
REL = "rel"  # the edit prompt itself -> new target
GEN = "gen"  # paraphrases of the edit prompt -> new target
LOC = "loc"  # unrelated prompts -> their original answer (compared pre vs post)
POR_HOP = "por_hop"  # one-hop portability question (also Rep / Rev sets)
NHOP = "nhop"  # MQuAKE multi-hop questions -> new answer
HOP = "hop"  # MQuAKE single-hop sub-questions of the new chain
# Probes a run adds to the dataset's own queries (bench/probes.py):
LOC_UNRELATED = "loc_unrelated"  # other cases' prompts, other relation and subject -> their answer (compared pre/post)
LOC_DISTRACT = "loc_distract"  # a LOC prompt after the edit's own prompt and new target (CounterFact+)
FLUENCY = "fluency"  # a prompt about the subject; the free text generated from it is scored for n-gram entropy
KINDS = (REL, GEN, LOC, POR_HOP, NHOP, HOP, LOC_UNRELATED, LOC_DISTRACT, FLUENCY)
LOCALITY_KINDS = (LOC, LOC_UNRELATED, LOC_DISTRACT)  # scored against the unedited model's own answer


@dataclass(frozen=True)
class Edit:
    """One fact rewrite (s, r, o -> o*)."""

    prompt: str  # the edit prompt with the subject filled in
    subject: str
    target_new: str
    target_true: str | None = None
    template: str | None = None  # prompt with "{}" for the subject, None if the subject is not in it
    relation_id: str | None = None
    sentence: str = ""  # the edit as one sentence, used as instruction / memory entry

    def __post_init__(self):
        if not self.sentence:
            object.__setattr__(self, "sentence", f"{self.prompt} {self.target_new}.")


@dataclass(frozen=True)
class Query:
    """A probe: teacher-forced on `answer`, generation matched against answer + aliases."""

    kind: str
    prompt: str
    answer: str
    aliases: tuple[str, ...] = ()


@dataclass
class EditCase:
    case_id: str
    dataset: str
    edits: list[Edit]
    queries: list[Query]
    extra: dict = field(default_factory=dict)  # e.g. alternative_subject, hop count

    def of_kind(self, kind: str) -> list[Query]:
        return [q for q in self.queries if q.kind == kind]

    @property
    def instruction(self) -> str:
        """All of the case's rewrites as sentences (the gold instruction)."""
        return " ".join(e.sentence for e in self.edits)
