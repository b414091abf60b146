"""Training objectives on teacher-forced rows, built on the scorer's own encoding and padding.

Both return a differentiable mean negative log-likelihood over the target
tokens of every row (rows weigh equally, tokens within a row too), so any
editor that fine-tunes towards answers (FT, LoRA) can reuse them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from bench.scoring import Encoded, Prepared, Scorer


def encode_rows(scorer: Scorer, items: list[Prepared]) -> list[Encoded]:
    """Token ids of prompt + target per row; `target_start` marks the first target token."""
    return [scorer.encode(it) for it in items]


def target_new_nll(scorer: Scorer, rows: list[Encoded],
                   logits: Callable[[int], torch.Tensor] | None = None) -> torch.Tensor:
    """FT-M / EasyEdit 'target_new': teacher-forced prompt + target, cross-entropy on target tokens only.

    `logits(n_keep)`, when given, stands for the model's forward on the collated rows (WISE reruns only the
    layers above its side memory, editors/locate/upper.py)."""
    batch = scorer.collate(rows)
    n_keep = max(len(e.ids) - e.target_start for e in rows) + 1
    out = scorer.logits(batch, None, n_keep) if logits is None else logits(n_keep)
    logp = torch.log_softmax(out.float(), dim=-1)
    # logp[:, j] predicts the token after position (width - n_keep + j), as in Scorer.score; each row's target
    # sits right-aligned in columns 0 .. n_keep - 2 (one gather for all rows: a per-row slice of the
    # vocabulary-wide log-probs would cost a full-size zero tensor per row in the backward)
    starts = [n_keep - 1 - (len(e.ids) - e.target_start) for e in rows]  # each row's first target column
    targets = torch.zeros(len(rows), n_keep - 1, dtype=torch.long)
    for r, (e, start) in enumerate(zip(rows, starts)):
        targets[r, start:] = torch.tensor(e.ids[e.target_start:])
    picked = logp[:, :-1].gather(-1, targets.to(logp.device)[..., None])[..., 0]
    losses = [-picked[r, start:].mean() for r, start in enumerate(starts)]
    return torch.stack(losses).mean()


def prompt_last_nll(scorer: Scorer, rows: list[Encoded]) -> torch.Tensor:
    """FT-L / EasyEdit 'prompt_last': log-probs of ALL target tokens read at the last prompt position.

    The prompt is the token prefix before the target (as the scorer locates it), so
    the first target token is exactly what teacher forcing would predict there.
    """
    prompts = [Encoded(e.ids[:e.target_start], e.target_start, e.meta) for e in rows]
    batch = scorer.collate(prompts)  # left padding: the last column is every row's last prompt token
    logp = torch.log_softmax(scorer.logits(batch, None, 1)[:, -1].float(), dim=-1)
    losses = []
    for r, e in enumerate(rows):
        target = torch.tensor(e.ids[e.target_start:], device=logp.device)
        losses.append(-logp[r, target].mean())
    return torch.stack(losses).mean()


OBJECTIVES = {"target_new": target_new_nll, "prompt_last": prompt_last_nll}
