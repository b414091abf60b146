"""Offline text corpora for the key statistics, selectable by name.

- `model`: text sampled from the model itself (seeded top-k sampling from a
  fixed list of start words). Needs nothing but the model.
- `prompts`: the datasets' own prompt texts with their answers, from the
  training splits (`counterfact-train`, `zsre-train`) so no test prompt leaks
  into the statistics; `prompts:SPEC[+SPEC]` picks other dataset specs.
  Needs the data dir (BENCH_DATA_DIR).
- `wikipedia`: ROME/MEMIT's corpus, through the `datasets` package (imported
  lazily; the optional extra `knowledge-edit-bench[wikipedia]`); only where a
  dataset hub is reachable.

Each yields token-id sequences until the caller has enough token vectors.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

from bench.errors import BenchError
from bench.sampling import sample_ids
from bench.scoring import Prepared, Scorer, join_prompt_target

CORPORA = ("model", "prompts", "wikipedia")
MODEL_STARTS = ("The", "In", "A", "It", "He", "She", "This", "When", "After", "Many", "Some", "Our",
                "I", "You", "We", "Because", "Therefore", "However", "According to", "During")
SAMPLE_LEN = 64  # tokens per sampled sequence
SAMPLE_BATCH = 32  # sequences sampled per generation call
SAMPLE_TOP_K = 40
DEFAULT_PROMPT_SPECS = ("counterfact-train", "zsre-train")


def corpus_sequences(name: str, scorer: Scorer, seed: int, data_dir: Path | None = None) -> Iterator[list[int]]:
    """Token-id sequences of corpus `name`; an unbounded stream for `model`, finite otherwise."""
    kind, _, arg = name.partition(":")
    if kind == "model":
        return _model_samples(scorer, seed)
    if kind == "prompts":
        specs = tuple(arg.split("+")) if arg else DEFAULT_PROMPT_SPECS
        return _prompt_texts(scorer, specs, seed, data_dir)
    if kind == "wikipedia":
        return _wikipedia(scorer, seed)
    raise BenchError(f"unknown statistics corpus '{name}'; choose one of {', '.join(CORPORA)} "
                     "(prompts:SPEC[+SPEC] picks datasets)")


def _model_samples(scorer: Scorer, seed: int) -> Iterator[list[int]]:
    call = 0
    while True:
        starts = [MODEL_STARTS[(call * SAMPLE_BATCH + i) % len(MODEL_STARTS)] for i in range(SAMPLE_BATCH)]
        yield from sample_ids(scorer, starts, SAMPLE_LEN, SAMPLE_TOP_K, seed * 100_003 + call)
        call += 1


def _prompt_texts(scorer: Scorer, specs: tuple[str, ...], seed: int, data_dir: Path | None) -> Iterator[list[int]]:
    from bench.data import load_dataset

    texts: dict[str, None] = {}
    for spec in specs:
        for case in load_dataset(spec, data_dir=data_dir):
            for query in case.queries:
                texts[join_prompt_target(query.prompt, query.answer)] = None
    ordered = list(texts)
    random.Random(seed).shuffle(ordered)
    for text in ordered:
        yield scorer.encode(Prepared(text)).ids


def _wikipedia(scorer: Scorer, seed: int) -> Iterator[list[int]]:
    try:
        import datasets  # lazy: optional dependency, and it needs a reachable hub
    except ImportError as exc:
        raise BenchError("stats_corpus=wikipedia needs the `datasets` package (pip install "
                         "knowledge-edit-bench[wikipedia]) and a reachable dataset hub; offline, use "
                         "stats_corpus=model or stats_corpus=prompts") from exc
    try:
        stream = datasets.load_dataset("wikimedia/wikipedia", "20231101.en", split="train", streaming=True)
        stream = stream.shuffle(seed=seed, buffer_size=1000)
        for record in stream:
            yield scorer.encode(Prepared(record["text"])).ids[:SAMPLE_LEN * 4]
    except (OSError, ConnectionError) as exc:
        raise BenchError(f"stats_corpus=wikipedia: the dataset hub is not reachable ({exc.__class__.__name__}); "
                         "offline, use stats_corpus=model or stats_corpus=prompts") from exc
