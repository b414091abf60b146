"""The texts WISE trains on besides the edit: context templates and irrelevant prompts.

Context templates (the authors' utils.py lines 426-450, wise_main.py line 20): the edit prompt alone and
behind each of 5 start words continued greedily by the unedited model for 5 and for 10 tokens, so the
side memory fires on the edit in context too. Irrelevant prompts x_i (paper Eq. 5; the authors pair edit i
with the i-th locality prompt and answer of ZsRE's training split, examples/run_wise_editing.py lines 50-51)
keep the side memory quiet elsewhere.
"""

from __future__ import annotations

from pathlib import Path

from bench.data.schema import LOC
from bench.errors import BenchError
from bench.scoring import Prepared, Scorer, join_prompt_target

TEMPLATE_STARTS = ("I", "You", "Because", "Yes", "Q: ")
TEMPLATE_LENGTHS = (5, 10)


def context_prefixes(scorer: Scorer) -> list[str]:
    """"" and the 10 greedy continuations, each ending in a space, to put before an edit prompt."""
    prefixes = [""]
    for length in TEMPLATE_LENGTHS:
        texts = scorer.generate([Prepared(s) for s in TEMPLATE_STARTS], length, stop_at_newline=False)
        prefixes += [join_prompt_target(start, text) + " " for start, text in zip(TEMPLATE_STARTS, texts)]
    return prefixes


def irrelevant_texts(spec: str, data_dir: Path | None) -> list[str]:
    """Locality prompt + answer of each case of dataset `spec`, in file order."""
    from bench.data import load_dataset

    texts = [join_prompt_target(q.prompt, q.answer) for case in load_dataset(spec, data_dir=data_dir)
             for q in case.of_kind(LOC)[:1]]
    if not texts:
        raise BenchError(f"wise: argument irrelevant={spec!r} names a dataset without locality prompts; "
                         "use one whose cases have them (zsre-train, counterfact-train)")
    return texts
