"""Second-moment statistics C = E[k k^T] of module inputs (the keys), cached on disk.

ROME and MEMIT weigh their updates by the uncentred second moment of the keys
a module sees on generic text. The cache file is keyed by model, layer, part,
corpus, sample count, seed and dtype:
`cache_root()/stats/<model>/<corpus>-n<N>-seed<S>-<dtype>/layer<L>-<part>.safetensors`.
All missing sites are built in one pass over the corpus (forward stopped after
the deepest one). The first token of every sequence is left out: its
activations are attention-sink outliers that no subject token resembles.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from bench.arch import arch_of
from bench.atomic import atomic_write
from bench.models import LoadedModel, cache_root, resolve_dtype
from bench.scoring import Encoded, Scorer
from editors.locate.corpora import corpus_sequences
from editors.locate.hooks import BLOCK, Site, forward, hooked

logger = logging.getLogger(__name__)

BATCH_SEQUENCES = 16


@dataclass(frozen=True)
class StatsSpec:
    corpus: str = "model"
    n_samples: int = 4096  # token vectors
    dtype: str = "float32"
    seed: int = 0

    @property
    def key(self) -> str:
        corpus = re.sub(r"[^A-Za-z0-9_.+-]+", "_", self.corpus)
        return f"{corpus}-n{self.n_samples}-seed{self.seed}-{self.dtype}"


def model_key(lm: LoadedModel) -> str:
    """The model's name plus a fingerprint of its embedding table (same alias, other weights -> other key)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(lm.name).strip("/"))[-80:]
    embed = lm.model.get_submodule(arch_of(lm.model).embed).weight.detach()
    head = embed.reshape(-1)[: 1 << 16].float().cpu().numpy().tobytes()
    digest = hashlib.blake2b(head + str(tuple(embed.shape)).encode(), digest_size=6).hexdigest()
    return f"{name}-{digest}"


class SecondMoments:
    """Loads or builds C for requested sites; `info[site]` says where each came from and what it cost."""

    def __init__(self, lm: LoadedModel, spec: StatsSpec, data_dir: Path | None = None,
                 cache_dir: Path | None = None, progress: bool = True):
        self.lm, self.spec, self.data_dir, self.progress = lm, spec, data_dir, progress
        self.dir = (cache_dir or cache_root() / "stats") / model_key(lm) / spec.key
        self._moments: dict[Site, torch.Tensor] = {}
        self.info: dict[Site, dict] = {}

    def path(self, site: Site) -> Path:
        return self.dir / f"layer{site[0]}-{site[1]}.safetensors"

    def get(self, sites: list[Site]) -> dict[Site, torch.Tensor]:
        missing = [s for s in dict.fromkeys(sites) if s not in self._moments and not self._load(s)]
        if missing:
            self._build(missing)
        return {s: self._moments[s] for s in sites}

    def _load(self, site: Site) -> bool:
        path = self.path(site)
        if not path.exists():
            return False
        t0 = time.perf_counter()
        with safe_open(str(path), framework="pt") as f:
            self._moments[site] = f.get_tensor("mom2")
            meta = f.metadata() or {}
        self.info[site] = {"path": str(path), "from_cache": True, "count": int(meta.get("count", 0)),
                           "seconds": time.perf_counter() - t0}
        return True

    @torch.no_grad()
    def _build(self, sites: list[Site]) -> None:
        t0 = time.perf_counter()
        sums, count = self._accumulate(sites)
        seconds = time.perf_counter() - t0
        if count < self.spec.n_samples:
            logger.warning("corpus '%s' ran out after %d of %d token vectors", self.spec.corpus, count,
                           self.spec.n_samples)
        self.dir.mkdir(parents=True, exist_ok=True)
        for site in sites:
            mom2 = (sums[site] / max(count, 1)).to(resolve_dtype(self.spec.dtype)).cpu().contiguous()
            self._moments[site] = mom2
            meta = {"model": str(self.lm.name), "layer": str(site[0]), "part": site[1],
                    "corpus": self.spec.corpus, "n_samples": str(self.spec.n_samples), "count": str(count),
                    "seed": str(self.spec.seed), "dtype": self.spec.dtype, "seconds": f"{seconds:.3f}"}
            atomic_write(self.path(site), lambda tmp, m=mom2, d=meta: save_file({"mom2": m}, str(tmp), metadata=d))
            self.info[site] = {"path": str(self.path(site)), "from_cache": False, "count": count,
                               "seconds": seconds / len(sites)}

    def _accumulate(self, sites: list[Site]) -> tuple[dict[Site, torch.Tensor], int]:
        from tqdm import tqdm

        model = self.lm.model
        scorer = Scorer(model, self.lm.tokenizer)
        stream = corpus_sequences(self.spec.corpus, scorer, self.spec.seed, self.data_dir)
        last = max(s[0] for s in sites)
        sums: dict[Site, torch.Tensor] = {}
        count, target = 0, self.spec.n_samples
        bar = tqdm(total=target, desc=f"key statistics ({self.spec.corpus})", unit="tok", file=sys.stderr,
                   disable=not self.progress)
        while count < target:
            seqs = [ids for _, ids in zip(range(BATCH_SEQUENCES), stream) if len(ids) > 1]
            if not seqs:
                break
            batch = scorer.collate([Encoded(ids, len(ids)) for ids in seqs])
            keep = batch.attention_mask.bool().clone()
            for r, pad in enumerate(batch.pad):
                keep[r, pad] = False  # the first token of each sequence
            take = min(int(keep.sum()), target - count)
            with hooked(model, [*sites, (last, BLOCK)], read_inputs=True, stop_after=(last, BLOCK)) as rec:
                forward(model, batch)
            for site in sites:
                keys = rec.inputs[site][keep][:take].double()  # accumulated on the model's device
                sums[site] = sums.get(site, 0) + keys.T @ keys
            count += take
            bar.update(take)
        bar.close()
        return sums, count


def describe_stats(spec: StatsSpec, moments: SecondMoments | None) -> dict:
    """What config.json should say about the statistics actually used."""
    out = {"corpus": spec.corpus, "n_samples": spec.n_samples, "dtype": spec.dtype, "seed": spec.seed}
    if moments is not None and moments.info:
        out["sites"] = {f"layer{s[0]}.{s[1]}": info for s, info in sorted(moments.info.items())}
    return json.loads(json.dumps(out))
