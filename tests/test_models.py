import pytest
import torch

from bench.errors import BenchError
from bench.models import known_models, load_model, resolve_device, resolve_dtype


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
    with pytest.raises(BenchError, match="unknown dtype"):
        resolve_dtype("int3")
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(BenchError, match="no CUDA device"):
            resolve_device("cuda")


def test_unknown_model_lists_offline_choices(tmp_path):
    with pytest.raises(BenchError, match="smollm2-135m"):
        load_model(str(tmp_path / "no-such-model"), "cpu")
    assert {"smollm2-135m", "gemma3-270m", "tiny-llama", "tiny-gpt2"} <= set(known_models())


@pytest.mark.integration
def test_smollm2_loads_offline_and_knows_a_fact():
    from bench.scoring import Prepared, Scorer

    lm = load_model("smollm2-135m", "cpu")
    assert lm.model_type == "llama" and sum(p.numel() for p in lm.model.parameters()) > 130e6
    (score,) = Scorer(lm.model, lm.tokenizer).score([Prepared("The capital of France is", "Paris")])
    assert score.accuracy == 1.0
