"""Training pairs for a scope classifier (both SERAC editors'), from edit cases of the training splits.

Per edit (key = its edit prompt): positives are the edit prompt itself and its
paraphrases (GEN); negatives are its locality prompts, prompts of random other
edits, and the other edits' prompts nearest to this key (hard negatives:
memories hold many edits, and a query must pick out its own).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from bench.data.schema import GEN, LOC, REL, EditCase


@dataclass
class Pairs:
    texts: list[str]  # every distinct text, embedded once
    key: list[int]  # index into texts of each pair's edit prompt
    query: list[int]  # index into texts of each pair's query
    label: list[float]  # 1 = in scope
    group: list[int]  # the case each pair came from (for a train/validation split by case)


def case_key(case: EditCase) -> str:
    return case.edits[0].prompt


def build_pairs(cases: list[EditCase], embed, n_random: int = 2, n_hard: int = 2,
                seed: int = 0) -> tuple[Pairs, torch.Tensor]:
    """Pairs plus the embeddings of `Pairs.texts`; `embed(texts) -> (n, dim)` unit vectors."""
    rng = random.Random(seed)
    texts: dict[str, int] = {}

    def tid(text: str) -> int:
        return texts.setdefault(text, len(texts))

    keys = [tid(case_key(c)) for c in cases]
    own = [[tid(q.prompt) for q in c.queries if q.kind in (REL, GEN)] for c in cases]
    loc = [[tid(q.prompt) for q in c.queries if q.kind == LOC] for c in cases]
    emb = embed(list(texts))
    key_emb = emb[torch.tensor(keys)]
    sims = key_emb @ key_emb.T
    sims.fill_diagonal_(-2.0)
    hard = sims.topk(min(n_hard, max(len(cases) - 1, 0)), dim=1).indices.tolist() if len(cases) > 1 else []
    pairs = Pairs(list(texts), [], [], [], [])
    for i, key in enumerate(keys):
        negatives = list(loc[i])
        others = [j for j in rng.sample(range(len(cases)), min(len(cases), n_random + 1)) if j != i][:n_random]
        negatives += [rng.choice(own[j]) for j in others if own[j]]
        negatives += [keys[j] for j in (hard[i] if hard else [])]
        for q, label in [(q, 1.0) for q in own[i]] + [(q, 0.0) for q in negatives if q not in own[i]]:
            pairs.key.append(key)
            pairs.query.append(q)
            pairs.label.append(label)
            pairs.group.append(i)
    return pairs, emb


def split_by_group(pairs: Pairs, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Pair indices for training and validation, whole edits held out."""
    groups = sorted(set(pairs.group))
    held = set(random.Random(seed).sample(groups, int(len(groups) * fraction)))
    train = [i for i, g in enumerate(pairs.group) if g not in held]
    return train, [i for i, g in enumerate(pairs.group) if g in held]


def pair_tensors(pairs: Pairs, emb: torch.Tensor, idx: list[int]):
    """(edit embeddings, query embeddings, labels) of the pairs `idx`."""
    sel = torch.tensor(idx, dtype=torch.long)
    return emb[torch.tensor(pairs.key)[sel]], emb[torch.tensor(pairs.query)[sel]], torch.tensor(pairs.label)[sel]


@torch.no_grad()
def validate(prob, pairs: Pairs, emb: torch.Tensor, idx: list[int], threshold: float) -> dict:
    """Accuracy and per-class recall on the pairs `idx` of a classifier `prob(u, v)` -> in-scope probabilities.

    Half the in-scope pairs query an edit with its own prompt, which a distance classifier rates 1 whatever it
    learned; `paraphrase_recall` is the in-scope recall on the other half, the one that measures generalisation
    (the committed SERAC checkpoint: in-scope recall 0.960, paraphrases alone about 0.92)."""
    if not idx:
        return {}
    u, v, y = pair_tensors(pairs, emb, idx)
    pred = (prob(u, v) > threshold).float()
    pos, neg = y == 1, y == 0
    para = pos & (torch.tensor(pairs.key)[idx] != torch.tensor(pairs.query)[idx])
    return {"n": len(y), "accuracy": _rate(pred == y, torch.ones_like(pos)),
            "in_scope_recall": _rate(pred, pos), "paraphrase_recall": _rate(pred, para),
            "out_of_scope_recall": _rate(1 - pred, neg)}


def _rate(hit: torch.Tensor, mask: torch.Tensor) -> float | None:
    return round(float(hit[mask].float().mean()), 4) if mask.any() else None
