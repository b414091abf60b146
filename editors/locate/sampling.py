"""ROME's context prefixes: short texts sampled from the model itself (bench/sampling.py), each ending in ". "."""

from __future__ import annotations

from bench.sampling import sample_ids
from bench.scoring import Scorer

CONTEXT_STARTS = ("The", "Therefore", "Because", "I", "You")


def context_prefixes(scorer: Scorer, lengths: list[int], per_length: int, seed: int, top_k: int = 5) -> list[str]:
    """ROME's context templates as plain prefixes: "" plus short sampled texts, each followed by ". ".

    For each length, `per_length` texts are sampled from the start words
    (cycled); braces are blanked as in the reference so prompts stay formattable.
    """
    prefixes = [""]
    if per_length <= 0:
        return prefixes
    for i, length in enumerate(lengths):
        starts = [CONTEXT_STARTS[j % len(CONTEXT_STARTS)] for j in range(per_length)]
        for ids in sample_ids(scorer, starts, length, top_k, seed + i):
            text = scorer.tokenizer.decode(ids, skip_special_tokens=True)
            prefixes.append(text.replace("{", " ").replace("}", " ") + ". ")
    return prefixes
