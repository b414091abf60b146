"""Refuse queries longer than the model's context, once its tokenizer is known.

Past its context a GPT-2-style model (learned positions) fails with an
IndexError in the middle of a run, and a rotary model (LLaMA, Qwen) runs on
and scores extrapolated positions without a word. Both are data problems, so
they are reported before any editor runs, naming dataset, case and query.
Only the raw query is measured (prompt + answer, as the scorer encodes it):
text an editor adds (instructions, demonstrations, a few-shot prefix) is not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.data.fields import show
from bench.data.schema import EditCase, Query
from bench.errors import BenchError
from bench.scoring import join_prompt_target

# transformers config attributes that hold the longest sequence, most common first (GPT-2 maps the first)
CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "n_ctx", "max_sequence_length", "seq_length")
_SHOWN = 3  # over-long queries spelled out in the message
_CHUNK = 1024  # texts per tokenizer call


def context_length(config: Any) -> int | None:
    """The longest token sequence the model takes, from its transformers config (None if it names none)."""
    config = getattr(config, "text_config", None) or config
    for key in CONTEXT_KEYS:
        value = getattr(config, key, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def check_context(cases: Sequence[EditCase], tokenizer: Any, max_positions: int | None, dataset_name: str) -> None:
    """Raise BenchError if any query's prompt + answer is longer than `max_positions` tokens (None: no limit)."""
    if max_positions is None:
        return
    pairs = [(case, query) for case in cases for query in case.queries]
    totals = token_lengths(tokenizer, [join_prompt_target(q.prompt, q.answer) for _, q in pairs])
    over = [(case, query, n) for (case, query), n in zip(pairs, totals) if n > max_positions]
    if over:
        raise BenchError(_context_message(over, tokenizer, max_positions, dataset_name))


def token_lengths(tokenizer: Any, texts: list[str]) -> list[int]:
    """Token counts with the special tokens the scorer's encoding adds (e.g. LLaMA's BOS)."""
    lengths: list[int] = []
    for lo in range(0, len(texts), _CHUNK):
        lengths += [len(ids) for ids in tokenizer(texts[lo:lo + _CHUNK]).input_ids]
    return lengths


def _context_message(
    over: list[tuple[EditCase, Query, int]], tokenizer: Any, max_positions: int, dataset_name: str
) -> str:
    shown = "; ".join(_describe(case, query, n, tokenizer) for case, query, n in over[:_SHOWN])
    more = f" (and {len(over) - _SHOWN} more)" if len(over) > _SHOWN else ""
    return (
        f"Dataset '{dataset_name}': {len(over)} quer{'y is' if len(over) == 1 else 'ies are'} longer than the "
        f"model's context of {max_positions} tokens: {shown}{more}. Past its context a model either fails "
        f"(learned positions, e.g. GPT-2) or scores positions it was never trained on (rotary, e.g. LLaMA). "
        f"Shorten or drop these records, or use a model with a longer context."
    )


def _describe(case: EditCase, query: Query, total: int, tokenizer: Any) -> str:
    prompt = token_lengths(tokenizer, [query.prompt])[0]
    return (
        f"case {case.case_id}, {query.kind} query {show(query.prompt)} -> {show(query.answer)}: "
        f"{total} tokens (prompt {prompt})"
    )
