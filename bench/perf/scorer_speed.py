"""Batched scorer vs a one-query-per-forward loop on the same CounterFact queries.

Prints the largest log-probability difference, whether every argmax agrees,
and the speed ratio measured in this one run (target: >= 4x on CPU).

    python -m bench.perf.scorer_speed --model smollm2-135m --cases 30 --batch-size 32
"""

from __future__ import annotations

import argparse
import time

import torch

from bench.data import load_dataset
from bench.models import load_model
from bench.scoring import Prepared, Scorer


@torch.no_grad()
def one_at_a_time(model, scorer: Scorer, items: list[Prepared]) -> list[tuple[list[float], list[int]]]:
    """The naive reference: one forward per query, full logits, no padding."""
    out = []
    for item in items:
        enc = scorer.encode(item)
        ids = torch.tensor([enc.ids], device=scorer.device)
        logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
        positions = range(enc.target_start, len(enc.ids))
        logprobs = [logp[t - 1, enc.ids[t]].item() for t in positions]
        out.append((logprobs, [logp[t - 1].argmax().item() for t in positions]))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--dataset", default="counterfact")
    parser.add_argument("--cases", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    lm = load_model(args.model, args.device)
    cases = load_dataset(args.dataset, limit=args.cases)
    items = [Prepared(q.prompt, q.answer) for c in cases for q in c.queries]
    scorer = Scorer(lm.model, lm.tokenizer, batch_size=args.batch_size)
    scorer.score(items[:4])  # warm-up
    t0 = time.perf_counter()
    batched = scorer.score(items)
    t_batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    reference = one_at_a_time(lm.model, scorer, items)
    t_single = time.perf_counter() - t0
    max_diff = max(abs(a - b) for s, (lp, _) in zip(batched, reference) for a, b in zip(s.logprobs, lp))
    same_argmax = all(s.pred_ids == pred for s, (_, pred) in zip(batched, reference))
    tokens = sum(len(scorer.encode(i).ids) for i in items)
    print(f"model={args.model} device={lm.device} queries={len(items)} tokens={tokens} batch={args.batch_size} "
          f"threads={torch.get_num_threads()}")
    print(f"max |logprob difference| = {max_diff:.2e}; identical argmax predictions: {same_argmax}")
    print(f"one-query-per-forward: {t_single:.2f}s   batched: {t_batched:.2f}s   "
          f"speed ratio: {t_single / t_batched:.2f}x")


if __name__ == "__main__":
    main()
