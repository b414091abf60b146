"""Small, fast stand-ins for InstructEd's tests: a hashing sentence encoder, hand-made cases, a checkpoint.

Kept in the package (not in tests/) so every InstructEd test module and the perf script share them.
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

import torch

from bench.arch import hidden_size, num_layers
from bench.data.schema import GEN, HOP, LOC, NHOP, REL, Edit, EditCase, Query
from bench.editor import Resources
from bench.models import LoadedModel, load_model
from editors.instructed import checkpoint as ckpt
from editors.instructed.data import build_pairs
from editors.instructed.overlap import Exclusion
from editors.instructed.prefix import PrefixBank
from editors.instructed.trained_cases import describe as describe_trained


@functools.cache
def tiny_lm(name: str) -> LoadedModel:
    """One frozen tiny model per process for all test modules (InstructEd never changes its weights)."""
    return load_model(name, device="cpu")


@functools.cache
def tiny_family_lm(model_type: str) -> LoadedModel:
    """A random 4-layer model of another LLaMA-family layout (qwen2, mistral, gemma3_text) with tiny-llama's
    tokenizer, to check InstructEd's attention on their modules (q/k/v biases, qk-norm, sliding windows)."""
    from transformers import (
        Gemma3ForCausalLM,
        Gemma3TextConfig,
        MistralConfig,
        MistralForCausalLM,
        Qwen2Config,
        Qwen2ForCausalLM,
    )

    tok = tiny_lm("tiny-llama").tokenizer
    common = dict(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=4,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                  bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    if model_type == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(**common))
    elif model_type == "mistral":
        model = MistralForCausalLM(MistralConfig(**common, sliding_window=None))
    else:
        layer_types = ["sliding_attention", "full_attention", "sliding_attention", "full_attention"]
        model = Gemma3ForCausalLM(Gemma3TextConfig(**common, head_dim=16, sliding_window=6, layer_types=layer_types))
    model.config._attn_implementation = "sdpa"
    model = model.eval().requires_grad_(False)
    return LoadedModel(f"tiny-{model_type}", model, tok, torch.device("cpu"), torch.float32)


def greedy_without_cache(lm: LoadedModel, scorer, item, context, steps: int) -> str:
    """Greedy continuation recomputing the whole sequence every step (the reference for cached generation)."""
    from bench.scoring import Encoded, Prepared

    ids = scorer.encode(Prepared(item.prompt, "", item.meta)).ids
    out: list[int] = []
    for _ in range(steps):
        batch = scorer.collate([Encoded(ids + out, len(ids) + len(out), item.meta)])
        token = int(scorer.logits(batch, context)[0, -1].argmax())
        if token == lm.tokenizer.eos_token_id:
            break
        out.append(token)
    return lm.tokenizer.decode(out, skip_special_tokens=True).strip()


class HashEncoder:
    """Bag-of-words hashing into 64 dims, L2-normalised: deterministic, no model, same API as SentenceEncoder."""

    name = "hash-encoder"

    def __init__(self, dim: int = 64):
        self.dim = dim

    def encode(self, texts: list[str], normalize: bool = True) -> torch.Tensor:
        out = torch.zeros((len(texts), self.dim))
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest()[:8], 16) % self.dim] += 1.0
        return torch.nn.functional.normalize(out, dim=-1) if normalize else out


def resources() -> Resources:
    """Resources whose default encoder is the HashEncoder."""
    res = Resources(encoder_name=HashEncoder.name)
    res._encoders[HashEncoder.name] = HashEncoder()
    return res


def counterfact_case(case_id: str, subject: str, prompt: str, new: str, true: str, paraphrase: str,
                     neighbour: tuple[str, str], dataset: str = "fixture-cf", **extra) -> EditCase:
    edit = Edit(prompt, subject, new, true)
    queries = [Query(REL, prompt, new), Query(GEN, paraphrase, new), Query(LOC, *neighbour)]
    return EditCase(case_id, dataset, [edit], queries, dict(extra))


def fixture_cases() -> list[EditCase]:
    return [
        counterfact_case("1", "Danielle Darrieux", "The mother tongue of Danielle Darrieux is", "English", "French",
                         "Danielle Darrieux spoke the language", ("The mother tongue of Paris is", "French"),
                         alternative_subject="Darrieux"),
        counterfact_case("2", "Toko Yasuda", "Toko Yasuda plays the", "piano", "guitar",
                         "Toko Yasuda performs on the", ("John Lennon performs on the", "guitar")),
        counterfact_case("3", "Spike Hughes", "Spike Hughes originates from", "Philadelphia", "London",
                         "Spike Hughes was born in", ("Rome is the capital of", "Italy")),
    ]


def mquake_case(case_id: str = "7") -> EditCase:
    edits = [Edit("Ellie Kemper is a citizen of", "Ellie Kemper", "Croatia", "United States of America"),
             Edit("The head of state of Croatia is", "Croatia", "Toyota", "Kolinda Grabar-Kitarovic")]
    queries = [Query(REL, e.prompt, e.target_new) for e in edits] + [
        Query(NHOP, "Who is the head of state of the country where Ellie Kemper holds a citizenship?", "Toyota"),
        Query(HOP, "What is the country of citizenship of Ellie Kemper?", "Croatia"),
        Query(HOP, "Who is the head of state of Croatia?", "Toyota"),
    ]
    return EditCase(case_id, "fixture-mquake", edits, queries, {"n_hops": 2})


def make_checkpoint(lm, directory: Path, layers: list[int], n_prefix: int = 5, variant: str = "attn",
                    trained_on: list[EditCase] = (), seed: int = 0, sink_kept: bool = True,
                    across_roles: bool = True, scaling: str = ckpt.DEFAULT_SCALING) -> PrefixBank:
    """An untrained (randomly initialised) checkpoint, written exactly as `bench train instructed` writes one.
    `across_roles=False`: as one trained before the overlap filter compared prompts across roles (no record);
    `scaling`: as `--scaling` trains one (Eq. 15 on query rows, the default, or key columns)."""
    bank = PrefixBank.for_model(lm.model, layers, n_prefix, variant, seed)
    if variant == "ffn":  # make the adapters do something without training
        for p in bank.up.values():
            torch.nn.init.normal_(p, std=0.05, generator=torch.Generator().manual_seed(seed))
    info = ckpt.CheckpointInfo(
        model=lm.name, model_type=lm.model_type, hidden_size=hidden_size(lm.model), num_layers=num_layers(lm.model),
        layers=list(layers), n_prefix=n_prefix, variant=variant, reweight=True, compat=ckpt.compat_of(scaling),
        scaling=scaling, encoder=HashEncoder.name, train_data=["fixture"], seed=seed, sink_kept=sink_kept,
        exclusion=Exclusion([], 0, len(trained_on), 0).to_json() if across_roles else {},
    )
    pairs = build_pairs(list(trained_on)) if trained_on else []
    trained = describe_trained(pairs, None)
    ckpt.save(Path(directory), bank.state_dict(), info, trained)
    return bank
