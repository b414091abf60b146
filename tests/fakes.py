"""Test stand-ins shared by several test modules."""

from __future__ import annotations

import re
import zlib

import torch


class BagOfWords:
    """A deterministic stand-in for MiniLM: hashed word counts, unit norm; records what it encodes."""

    name = "bag-of-words"

    def __init__(self, dim: int = 256):
        self.dim = dim
        self.calls: list[int] = []

    def encode(self, texts: list[str]) -> torch.Tensor:
        self.calls.append(len(texts))
        out = torch.zeros(len(texts), self.dim)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[i, zlib.crc32(word.encode()) % self.dim] += 1
        return torch.nn.functional.normalize(out, dim=-1)
