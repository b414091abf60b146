"""Second-moment statistics: the right moment, cached on disk under a descriptive key, clear errors."""

from __future__ import annotations

import sys

import pytest
import torch

from bench.errors import BenchError
from bench.scoring import Encoded, Scorer
from editors.locate.corpora import corpus_sequences
from editors.locate.hooks import forward, hooked
from editors.locate.stats import SecondMoments, StatsSpec


def test_moment_matches_a_direct_computation_and_is_cached(tiny_lm, tmp_path):
    spec, site = StatsSpec("model", 200, "float32", 0), (1, "mlp_out")
    first = SecondMoments(tiny_lm, spec, cache_dir=tmp_path, progress=False)
    mom = first.get([site])[site]
    path = first.path(site)
    assert path.exists() and "model-n200-seed0-float32" in str(path) and path.name == "layer1-mlp_out.safetensors"
    assert first.info[site]["count"] == 200 and not first.info[site]["from_cache"]

    scorer = Scorer(tiny_lm.model, tiny_lm.tokenizer)
    stream = corpus_sequences("model", scorer, 0)
    keys = []
    while sum(len(k) for k in keys) < 200:
        ids = next(stream)
        with hooked(tiny_lm.model, [site], read_inputs=True) as rec:
            forward(tiny_lm.model, scorer.collate([Encoded(ids, len(ids))]))
        keys.append(rec.inputs[site][0, 1:].double())  # the first token is left out
    k = torch.cat(keys)[:200]
    torch.testing.assert_close(mom.double(), k.T @ k / 200, atol=1e-5, rtol=1e-4)

    second = SecondMoments(tiny_lm, spec, cache_dir=tmp_path, progress=False)
    assert torch.equal(second.get([site])[site], mom) and second.info[site]["from_cache"]


def test_corpus_errors_are_clear(tiny_llama):
    scorer = Scorer(tiny_llama.model, tiny_llama.tokenizer)
    with pytest.raises(BenchError, match="unknown statistics corpus"):
        corpus_sequences("books", scorer, 0)
    with pytest.raises(BenchError, match="offline, use stats_corpus=model"):
        next(corpus_sequences("wikipedia", scorer, 0))


def test_sampled_corpus_is_deterministic(tiny_gpt2):
    scorer = Scorer(tiny_gpt2.model, tiny_gpt2.tokenizer)
    assert next(corpus_sequences("model", scorer, 3)) == next(corpus_sequences("model", scorer, 3))


def test_the_wikipedia_corpus_without_datasets_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # as if the extra were not installed
    with pytest.raises(BenchError, match=r"pip install knowledge-edit-bench\[wikipedia\]"):
        next(corpus_sequences("wikipedia", None, 0))
