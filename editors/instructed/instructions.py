"""The instruction text of a case, the input template, and the instruction's token span.

Template (the authors' code): `Instruction:\n{instruction}\nInput:\n{question}`, answer joined with a
space by the scorer. The span is found from token ids (the header's tokens in common with the full
prompt's), never from string offsets, so merges at the boundary and BOS tokens are handled for any
tokenizer family.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.data.schema import EditCase

HEADER = "Instruction:\n{instruction}\nInput:\n"
PAPER_HEADER = "Instruction:\n{instruction}"  # what the authors' code measures as the instruction length


def format_prompt(instruction: str, question: str) -> str:
    """The model input; an empty instruction means the plain question (no edit applies)."""
    return HEADER.format(instruction=instruction) + question if instruction else question


def alias_sentence(case: EditCase) -> str:
    """Table 9's extra instruction "s is also known as s'." ('' when the case has no alternative subject)."""
    alt = case.extra.get("alternative_subject")
    subject = case.edits[0].subject if case.edits else ""
    return f"{subject} is also known as {alt}." if alt and subject else ""


def case_instruction(case: EditCase, alias: bool = False) -> str:
    """The gold instruction: all of the case's rewrites as sentences, optionally with the alias sentence first."""
    return " ".join(filter(None, [alias_sentence(case) if alias else "", case.instruction]))


def memory_entries(case: EditCase, alias: bool = False) -> list[str]:
    """One retrieval-memory entry per rewrite (MQuAKE cases have several)."""
    prefix = alias_sentence(case) if alias else ""
    return [" ".join(filter(None, [prefix, e.sentence])) for e in case.edits]


@dataclass(frozen=True)
class RowMeta:
    """Per-row state the forward context needs; token indices are within the unpadded row."""

    sim: float  # cosine similarity of instruction and question (Eq. 14)
    ins_start: int  # first instruction token (after the tokens a tokenizer adds to any text, e.g. BOS)
    ins_end: int  # one past the last token of "Instruction:\n{ins}\nInput:\n"
    paper_rows: int  # tokens of "Instruction:\n{ins}" including BOS (compat=paper query-row scaling)
    paper_start: int = 0  # first query row compat=paper scales (1 when token 0 is a BOS-less sink kept out)


def common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


class Spanner:
    """Locates the instruction tokens of a templated prompt for one tokenizer.

    The attention sink is the first token of a sequence (40-78% of SmolLM2's last-token attention in 22
    of 30 layers). With a BOS token (LLaMA's `<s>`, as in the authors' code) it sits before the instruction
    and is never scaled. A tokenizer that adds no BOS (SmolLM2) makes the first *instruction* token the
    sink; Eq. 15 would then multiply the sink's scores by the similarity (near 0 or negative for unrelated
    prompts), so that out-of-scope prompts lose their sink in every layer. With `keep_sink` (the default;
    checkpoints trained before it record `sink_kept: false`) token 0 stays out of the scaled span, in both
    the column (strict) and the row (compat=paper) variants. We keep the sink out rather than prepend a
    sink token because a prepended token would change the plain prompt the unedited model sees, and so
    the locality reference."""

    def __init__(self, tokenizer, keep_sink: bool = True):
        self.tokenizer = tokenizer
        self.n_lead = len(tokenizer("").input_ids)  # BOS and the like
        self.keep_sink = keep_sink
        self.sink_in_span = keep_sink and self.n_lead == 0

    def ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text).input_ids)

    def meta(self, instruction: str, question: str, sim: float) -> RowMeta:
        full = self.ids(format_prompt(instruction, question))
        end = common_prefix(self.ids(HEADER.format(instruction=instruction)), full)
        paper_rows = common_prefix(self.ids(PAPER_HEADER.format(instruction=instruction)), full)
        skip = 1 if self.sink_in_span else 0
        return RowMeta(sim=sim, ins_start=min(max(self.n_lead, skip), end), ins_end=end, paper_rows=paper_rows,
                       paper_start=min(skip, paper_rows))
