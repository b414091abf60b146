"""What an edit does besides its target: neighbourhood KL, bleed-over of the new object, perplexity drift.

- `nkl`: KL(unedited || edited) of the next-token distributions at each answer position of a locality prompt,
  averaged over the positions (CounterFact+'s neighbourhood KL). The unedited distribution is kept as its
  `NKL_TOP` likeliest tokens, so the divergence is that of the two distributions over those tokens plus one bin
  for all others: exactly 0 when nothing changed, and a lower bound of the full KL (the log-sum inequality);
  results/README.md gives the measured gap.
- `leaked`: a locality prompt's first generated token is the first token of the edit's new object.
- `locality_kind`: which prompts these are measured on: the dataset's neighbourhood prompts, or, for a case that
  has none (MQuAKE ships none), its unrelated prompts (bench/probes.py), the only locality it has.
- perplexity drift: the edited model's perplexity on `PPL_TEXTS` sequences the unedited model sampled
  (seeded, `bench.sampling`), as a percent change from the unedited model's. No editor ever sees these texts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.data.schema import LOC, LOC_UNRELATED, REL, EditCase, Query
from bench.editor import Editor, Request
from bench.sampling import sample_ids
from bench.scoring import Prepared, Scorer

NKL_TOP = 100
PPL_TEXTS = 16  # sequences
PPL_LENGTH = 64  # tokens each
PPL_SEED = 1234  # fixed: the same texts for every run of a model
PPL_STARTS = ("The", "In", "A", "It", "He", "She", "This", "When", "After", "Many", "Some", "Our",
              "I", "You", "We", "According to")


def locality_kind(case: EditCase) -> str:
    """The query kind NKL, Leak and Loc_gen are measured on for `case` (module docstring)."""
    return LOC if case.of_kind(LOC) else LOC_UNRELATED


def nkl(top_ids: list[list[int]], top_logprobs: list[list[float]], edited: list[list[float]]) -> float:
    """Mean over answer positions of KL(P || Q) over P's top tokens and one bin for the rest; `edited[j]`: Q's
    log-probabilities of `top_ids[j]`."""
    values = []
    for p_logs, q_logs in zip(top_logprobs, edited):
        kl, p_rest, q_rest = 0.0, 1.0, 1.0
        for lp, lq in zip(p_logs, q_logs):
            p = math.exp(lp)
            kl += p * (lp - lq)
            p_rest -= p
            q_rest -= math.exp(lq)
        p_rest, q_rest = max(p_rest, 0.0), max(q_rest, 1e-12)
        if p_rest > 1e-12:
            kl += p_rest * (math.log(p_rest) - math.log(q_rest))
        values.append(max(kl, 0.0))
    return sum(values) / len(values) if values else 0.0


def first_new_token(scorer: Scorer, prompt: str, continuation: str) -> int | None:
    """The first token of `continuation` after `prompt`, as the scorer tokenises the pair (None: no text)."""
    if not continuation.strip():
        return None
    encoded = scorer.encode(Prepared(prompt, continuation.strip()))
    return encoded.ids[encoded.target_start]


@dataclass
class PerplexityProbe:
    """The texts perplexity drift is measured on, and the unedited model's log-likelihood of them."""

    items: list[Prepared]
    unedited: float  # mean log-probability per token, unedited model

    @classmethod
    def build(cls, scorer: Scorer) -> PerplexityProbe:
        tok = scorer.tokenizer
        items = []
        for ids in sample_ids(scorer, list(PPL_STARTS[:PPL_TEXTS]), PPL_LENGTH, 40, PPL_SEED):
            head, rest = tok.decode(ids[:4], skip_special_tokens=True), tok.decode(ids[4:], skip_special_tokens=True)
            if rest.strip():
                items.append(Prepared(head, rest.strip()))
        probe = cls(items, 0.0)
        probe.unedited = probe.mean_logprob(scorer, None)
        return probe

    def mean_logprob(self, scorer: Scorer, context, items: list[Prepared] | None = None) -> float:
        scores = scorer.score(items if items is not None else self.items, context)
        return sum(sum(s.logprobs) for s in scores) / sum(len(s.logprobs) for s in scores)


PPL = "ppl"  # the kind of the requests that carry the perplexity texts through an editor (never a dataset query)


def add_perplexity_drift(editor: Editor, requests: list[Request], rows: list[dict], probe: PerplexityProbe) -> None:
    """`ppl_drift` on the unit's REL rows: the percent change of perplexity, 100 * (ppl_edited / ppl_unedited - 1),
    with the texts read as the edited system reads any input (an editor that frames every query frames them too)."""
    if not requests:
        return
    case = requests[0].case
    texts = [Request(case, Query(PPL, item.prompt, item.target)) for item in probe.items]
    edited = probe.mean_logprob(editor.scorer, editor.active_context(), editor.prepare(texts).items)
    drift = round(100.0 * (math.exp(probe.unedited - edited) - 1.0), 6)
    for row in rows:
        if row["kind"] == REL:
            row["ppl_drift"] = drift
