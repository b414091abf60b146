"""The demonstration store: training cases, their sentence embeddings (cached on disk) and k-NN lookup.

Embeddings of the 10,000 CounterFact training sentences take minutes on a CPU,
so they are saved once as safetensors under `cache_root()/ike`, keyed by a hash
of the training file's bytes, the encoder name and the embedded-text format.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from bench.atomic import atomic_write
from bench.data.loaders import parse_file, resolve_spec
from bench.data.schema import EditCase
from bench.models import cache_root
from editors.ike.demos import retrieval_text

TEXT_FORMAT = "ike-v1:instruction"  # bump when retrieval_text changes, so old caches are not reused


def cache_path(path: Path, encoder_name: str) -> Path:
    digest = hashlib.sha256()
    digest.update(path.read_bytes())
    digest.update(f"\0{encoder_name}\0{TEXT_FORMAT}".encode())
    return cache_root() / "ike" / f"{path.stem}-{digest.hexdigest()[:20]}.safetensors"


def cached_embeddings(path: Path, encoder, texts: list[str]) -> torch.Tensor:
    """(len(texts), dim) unit embeddings, read from the cache or computed and written atomically."""
    file = cache_path(path, encoder.name)
    if file.is_file():
        emb = load_file(str(file))["embeddings"]
        if emb.shape[0] == len(texts):
            return emb
    emb = encoder.encode(texts).contiguous()
    atomic_write(file, lambda tmp: save_file({"embeddings": emb}, str(tmp)))
    return emb


@dataclass
class DemoStore:
    cases: list[EditCase]
    embeddings: torch.Tensor  # (len(cases), dim), unit norm

    @classmethod
    def load(cls, spec: str, data_dir, encoder) -> DemoStore:
        """The training cases of a dataset spec ('counterfact-train' or 'easyedit:PATH') and their embeddings."""
        fmt, path, origin = resolve_spec(spec, data_dir)
        cases = parse_file(path, fmt, origin)
        return cls(cases, cached_embeddings(path, encoder, [retrieval_text(c) for c in cases]))

    def nearest(self, query: torch.Tensor, n: int, exclude: set[str] = frozenset()) -> list[int]:
        """Indices of the `n` most similar cases, most similar first; ties go to the earlier case."""
        sims = self.embeddings @ query.to(self.embeddings.dtype)
        order = torch.sort(-sims, stable=True).indices.tolist()
        return [i for i in order if self.cases[i].case_id not in exclude][:n]
