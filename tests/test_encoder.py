"""SentenceEncoder loads through sentence-transformers: each folder's modules.json decides pooling and Normalize.

The hand-pooled reference is the encoder this replaced (mean over non-pad tokens, L2 normalisation): the default
MiniLM, whose modules.json says exactly that, must embed as before, while a CLS-pooled, un-normalised folder must
no longer be silently mean-pooled and normalised.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch

from bench.encoder import DEFAULT_ENCODER, SentenceEncoder, encoder_path

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "capital", "of", "france", "is", "paris",
         "rome", "italy", "who", "wrote", "hamlet"]
TEXTS = ["the capital of france is paris", "rome", "who wrote hamlet", "the capital of italy is rome"]


@torch.no_grad()
def hand_pooled(path: str, texts: list[str]) -> torch.Tensor:
    """The former bench/encoder.py: AutoModel, mean over non-pad tokens, L2 normalisation."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    enc = tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    hidden = model(**enc).last_hidden_state
    mask = enc["attention_mask"][..., None].to(hidden.dtype)
    return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=-1)


@torch.no_grad()
def cls_hidden(path: str, texts: list[str]) -> torch.Tensor:
    from transformers import AutoModel, AutoTokenizer

    enc = AutoTokenizer.from_pretrained(path)(texts, padding=True, return_tensors="pt")
    return AutoModel.from_pretrained(path).eval()(**enc).last_hidden_state[:, 0]


def st_folder(out: Path, pooling_mode: str, normalize: bool) -> Path:
    """A tiny BERT saved as a sentence-transformers folder (modules.json, 1_Pooling/...) by its own API."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize, Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    bert = out.parent / f"{out.name}-bert"
    bert.mkdir(parents=True)
    (bert / "vocab.txt").write_text("\n".join(WORDS) + "\n")
    BertTokenizerFast(vocab_file=str(bert / "vocab.txt")).save_pretrained(bert)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(WORDS), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=37, max_position_embeddings=64)).save_pretrained(bert)
    modules = [Transformer(str(bert), max_seq_length=64), Pooling(32, pooling_mode=pooling_mode)]
    SentenceTransformer(modules=modules + ([Normalize()] if normalize else []), device="cpu").save(str(out))
    return out


def test_mean_pooled_normalised_folder_embeds_as_the_hand_pooled_encoder(tmp_path):
    folder = st_folder(tmp_path / "mean", "mean", normalize=True)
    emb = SentenceEncoder(str(folder)).encode(TEXTS)
    assert emb.dtype == torch.float32 and emb.device.type == "cpu" and emb.shape == (len(TEXTS), 32)
    torch.testing.assert_close(emb, hand_pooled(str(folder), TEXTS), atol=1e-5, rtol=0)


def test_cls_pooling_without_normalize_is_honoured(tmp_path):
    folder = st_folder(tmp_path / "cls", "cls", normalize=False)
    encoder = SentenceEncoder(str(folder))
    raw, cls = encoder.encode(TEXTS, normalize=False), cls_hidden(str(folder), TEXTS)
    torch.testing.assert_close(raw, cls, atol=1e-5, rtol=0)
    assert not torch.allclose(raw.norm(dim=-1), torch.ones(len(TEXTS)), atol=1e-3)  # no Normalize module: raw
    torch.testing.assert_close(encoder.encode(TEXTS), torch.nn.functional.normalize(cls, dim=-1), atol=1e-5, rtol=0)
    assert (encoder.encode(TEXTS) - hand_pooled(str(folder), TEXTS)).abs().max() > 1e-2  # not mean-pooled


def test_empty_input_keeps_the_embedding_width(tmp_path):
    encoder = SentenceEncoder(str(st_folder(tmp_path / "mean", "mean", normalize=True)))
    assert encoder.encode([]).shape == (0, 32)


def test_a_local_folder_is_loaded_without_any_connection(tmp_path, monkeypatch):
    """Hub rules (bench/hub.py): no hub unless asked, so sentence-transformers must not try one either."""
    folder = st_folder(tmp_path / "mean", "mean", normalize=True)
    for var in ("BENCH_ALLOW_HUB", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)  # name resolution comes first, then connect
    monkeypatch.setattr(socket.socket, "connect", refuse)
    SentenceEncoder(str(folder)).encode(TEXTS[:1])
    assert attempts == []


@pytest.mark.integration  # the real MiniLM encoder (offline wheel)
def test_default_minilm_embeds_as_before():
    path = encoder_path(DEFAULT_ENCODER)
    texts = TEXTS + ["The mother tongue of Danielle Darrieux is", "Toko Yasuda, the"]
    torch.testing.assert_close(SentenceEncoder().encode(texts), hand_pooled(path, texts), atol=1e-5, rtol=0)
