"""serac-icl's scope classifier (our variant, not the paper's): a small head on frozen sentence embeddings.

Features of a pair (u, v) of unit embeddings of (edit, query): [u * v, |u - v|, cos(u, v)], a symmetric, cheap
stand-in for SERAC's classifiers (the published one is editors/serac/scope.py). The head is a one-hidden-layer MLP,
so a checkpoint is a few tens of KB of safetensors.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from bench.errors import BenchError

FEATURES = "serac-v1:uv,absdiff,cos"


class ScopeClassifier(torch.nn.Module):
    def __init__(self, dim: int, hidden: int = 32):
        super().__init__()
        self.dim, self.hidden = dim, hidden
        self.net = torch.nn.Sequential(torch.nn.Linear(2 * dim + 1, hidden), torch.nn.ReLU(),
                                       torch.nn.Linear(hidden, 1))

    def forward(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Logit that query v is in the scope of edit u, row by row."""
        cos = (u * v).sum(-1, keepdim=True)
        return self.net(torch.cat([u * v, (u - v).abs(), cos], dim=-1)).squeeze(-1)

    @torch.no_grad()
    def matrix(self, queries: torch.Tensor, keys: torch.Tensor, chunk: int = 256) -> torch.Tensor:
        """(len(queries), len(keys)) in-scope probabilities."""
        out = []
        for lo in range(0, len(queries), chunk):
            q = queries[lo:lo + chunk]
            u = keys[None].expand(len(q), -1, -1)
            v = q[:, None].expand(-1, len(keys), -1)
            out.append(torch.sigmoid(self(u, v)))
        return torch.cat(out) if out else torch.zeros((0, len(keys)))

    def save(self, path: Path, meta: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        info = {"features": FEATURES, "dim": str(self.dim), "hidden": str(self.hidden),
                **{k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()}}
        save_file({k: v.detach().contiguous() for k, v in self.state_dict().items()}, str(path), metadata=info)

    @classmethod
    def load(cls, path: Path) -> tuple[ScopeClassifier, dict]:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
        if meta.get("features") != FEATURES:
            raise BenchError(f"{path}: not a serac-icl scope classifier of this version (features "
                             f"{meta.get('features')!r}, expected {FEATURES!r}); retrain it with "
                             "`python -m bench train serac-icl`")
        clf = cls(int(meta["dim"]), int(meta["hidden"]))
        clf.load_state_dict(load_file(str(path)))
        return clf.eval(), meta
