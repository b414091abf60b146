"""Shared fixtures: the tiny test models are built once per session (seconds, no download)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.data.schema import GEN, LOC, POR_HOP, REL, Edit, EditCase, Query
from bench.models import load_model

# CI gives the data folder relative to the checkout (BENCH_DATA_DIR=../shared/data); tests that change the working
# directory (the README's snippets, the wheel install's subprocesses) must still find it.
if os.environ.get("BENCH_DATA_DIR"):
    os.environ["BENCH_DATA_DIR"] = str(Path(os.environ["BENCH_DATA_DIR"]).resolve())


@pytest.fixture(scope="session")
def tiny_llama():
    return load_model("tiny-llama", device="cpu")


@pytest.fixture(scope="session")
def tiny_gpt2():
    return load_model("tiny-gpt2", device="cpu")


@pytest.fixture(scope="session")
def tiny_gemma3():
    return load_model("tiny-gemma3", device="cpu")


@pytest.fixture(params=["tiny-llama", "tiny-gpt2"])
def tiny_lm(request, tiny_llama, tiny_gpt2):
    return tiny_llama if request.param == "tiny-llama" else tiny_gpt2


def make_case(case_id: str = "c1", subject: str = "Spike Hughes", target: str = "Philadelphia") -> EditCase:
    prompt = f"{subject} originates from"
    return EditCase(
        case_id=case_id, dataset="fixture",
        edits=[Edit(prompt, subject, target, "London", "{} originates from", "P19")],
        queries=[
            Query(REL, prompt, target),
            Query(GEN, f"{subject} was born in", target),
            Query(LOC, "Max Mosley originates from", "London"),
            Query(LOC, "Lita Ford was native to", "London"),
            Query(POR_HOP, f"What food is the city where {subject} originates from known for?", "Cheesesteaks"),
        ],
    )


def assert_batched_equals_alone(editor, requests) -> None:
    """Left-padded scoring of `requests` together gives each one's result alone (routing editors' key check)."""
    import torch

    together = editor.score(requests)
    alone = [editor.score([r])[0] for r in requests]
    for a, b in zip(together, alone):
        assert a.pred_ids == b.pred_ids
        assert torch.allclose(torch.tensor(a.logprobs), torch.tensor(b.logprobs), atol=1e-4)


@pytest.fixture
def cases():
    return [make_case("c1"), make_case("c2", "Toko Yasuda", "Paris"), make_case("c3", "John Lennon", "Berlin")]


@pytest.fixture(scope="module")
def _module_cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def module_stats_cache(_module_cache_dir, monkeypatch):
    """Locate-and-edit statistics go to a fresh cache shared by one test module (built once per model)."""
    monkeypatch.setenv("BENCH_CACHE_DIR", str(_module_cache_dir))
