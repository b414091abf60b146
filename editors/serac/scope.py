"""SERAC's scope classifier as published: the embedding classifier, in-scope probability exp(-||e(z_e) - e(x)||^2).

Mitchell et al. (ICML 2022), section 3, offer a cross-encoder and an embedding classifier; the authors' released
configuration (eric-mitchell/serac config/alg/rep.yaml lines 8-18, and EasyEdit hparams/TRAINING/SERAC/
llama-7b.yaml lines 30-33: `cross_attend: false`, `cos: false`, `square: true`, `dist_heads: 1`) uses the
embedding classifier with the squared Euclidean distance and a fixed scale of 1 (EasyEdit
easyeditor/trainer/algs/SERAC.py `embedding_logsim_matrix`: `-dists * self.scale`, a buffer of 1.0). We take the
embedding classifier: a cross-encoder runs once per (edit, query) pair, too slow on a CPU for memories of
hundreds of edits. Departure: the authors fine-tune all of distilbert-base-cased; here the sentence encoder
(all-MiniLM-L6-v2, frozen, unit-norm mean pooling, bench/encoder.py) is shared with the other retrieval
editors and only a learned linear map e(z) = W u(z) is trained, so the checkpoint is W alone (dim x dim floats).
W starts at the identity: then exp(-||u - v||^2) = exp(2 cos - 2), already a similarity.
"""

from __future__ import annotations

import torch

FEATURES = "serac-embedding-v1:exp(-|W(u-v)|^2)"


class EmbeddingScope(torch.nn.Module):
    """g(edit, query) = exp(-||W u - W v||^2) on sentence embeddings u (edit) and v (query)."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.proj = torch.nn.Linear(dim, dim, bias=False)
        with torch.no_grad():
            self.proj.weight.copy_(torch.eye(dim))

    def log_sim(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """log g for row-aligned pairs (u[i], v[i]): minus the squared distance of the learned embeddings."""
        return -(self.proj(u - v) ** 2).sum(-1)

    @torch.no_grad()
    def matrix(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """(len(queries), len(keys)) in-scope probabilities."""
        if not len(queries) or not len(keys):
            return torch.zeros((len(queries), len(keys)))
        return torch.exp(-torch.cdist(self.proj(queries), self.proj(keys)) ** 2)


def scope_loss(log_sim: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Class-balanced binary cross-entropy of the scope classifier (paper Eq. 2: -log g on in-scope pairs,
    -log(1 - g) on out-of-scope ones), balanced as the authors' eric-mitchell/serac losses.py lines 7-18
    (`balanced_bce`: the mean over in-scope pairs plus the mean over out-of-scope pairs); from log g."""
    pos, neg = labels > 0.5, labels <= 0.5
    log_out = torch.log(-torch.expm1(log_sim.clamp(max=-1e-6)))  # log(1 - g), stable near g = 1
    parts = [-log_sim[pos].mean()] if pos.any() else []
    parts += [-log_out[neg].mean()] if neg.any() else []
    return torch.stack(parts).sum()
