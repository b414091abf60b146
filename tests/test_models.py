import time

import pytest
import torch

from bench.errors import BenchError
from bench.hub import hub_allowed
from bench.models import known_models, load_model, model_path, resolve_device, resolve_dtype


def test_tiny_models_are_deterministic():
    a, b = load_model("tiny-gpt2", "cpu"), load_model("tiny-gpt2", "cpu")
    for (na, pa), (nb, pb) in zip(a.model.named_parameters(), b.model.named_parameters()):
        assert na == nb and torch.equal(pa, pb)
    assert not any(p.requires_grad for p in a.model.parameters())


def test_tokenizer_families(tiny_llama, tiny_gpt2):
    llama_ids = tiny_llama.tokenizer("The capital").input_ids
    assert llama_ids[0] == tiny_llama.tokenizer.bos_token_id  # SentencePiece-style: BOS + metaspace pieces
    assert tiny_llama.tokenizer.convert_ids_to_tokens(llama_ids)[1].startswith("\u2581")
    gpt_tokens = tiny_gpt2.tokenizer.convert_ids_to_tokens(tiny_gpt2.tokenizer("The capital").input_ids)
    assert gpt_tokens[-1].startswith("\u0120")  # byte-level BPE marks the space


def test_dtype_and_device_resolution(tiny_llama):
    assert resolve_dtype("bf16") == torch.bfloat16
    assert load_model("tiny-llama", "cpu", "bfloat16").model.dtype == torch.bfloat16
    with pytest.raises(BenchError, match="unknown --dtype"):
        resolve_dtype("int3")
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(BenchError, match="no CUDA device"):
            resolve_device("cuda")


def test_unknown_model_lists_offline_choices(tmp_path):
    with pytest.raises(BenchError, match="smollm2-135m"):
        load_model(str(tmp_path / "no-such-model"), "cpu")
    assert {"smollm2-135m", "gemma3-270m", "tiny-llama", "tiny-gpt2"} <= set(known_models())


@pytest.fixture
def no_hub(monkeypatch):
    monkeypatch.delenv("BENCH_ALLOW_HUB", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


def test_unknown_name_fails_fast_without_network(no_hub):
    start = time.monotonic()
    with pytest.raises(BenchError) as err:
        load_model("smollm2-135", "cpu")
    assert time.monotonic() - start < 2  # the hub's retries took about a minute without network
    message = str(err.value)
    assert "Did you mean 'smollm2-135m'?" in message and "gemma3-270m" in message and "--allow-hub" in message
    with pytest.raises(BenchError, match="Did you mean 'smollm2-135m'"):
        load_model("SmolLM2-135M", "cpu")


def test_hub_is_used_only_when_asked(no_hub, monkeypatch, tmp_path):
    assert not hub_allowed()
    with pytest.raises(BenchError, match="unknown model 'HuggingFaceTB/SmolLM2-135M'"):
        model_path("HuggingFaceTB/SmolLM2-135M")
    assert model_path("HuggingFaceTB/SmolLM2-135M", allow_hub=True) == "HuggingFaceTB/SmolLM2-135M"
    assert model_path(str(tmp_path)) == str(tmp_path)  # an existing local directory needs no hub
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert not hub_allowed()
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert hub_allowed()
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("BENCH_ALLOW_HUB", "1")
    assert hub_allowed() and model_path("org/model") == "org/model"


def test_local_directory_that_is_not_a_model_is_not_looked_up_on_the_hub(no_hub, tmp_path):
    start = time.monotonic()
    with pytest.raises(BenchError, match="not a complete local model directory"):
        load_model(str(tmp_path), "cpu")
    assert time.monotonic() - start < 2


@pytest.mark.integration
def test_smollm2_loads_offline_and_knows_a_fact():
    from bench.scoring import Prepared, Scorer

    lm = load_model("smollm2-135m", "cpu")
    assert lm.model_type == "llama" and sum(p.numel() for p in lm.model.parameters()) > 130e6
    (score,) = Scorer(lm.model, lm.tokenizer).score([Prepared("The capital of France is", "Paris")])
    assert score.accuracy == 1.0
