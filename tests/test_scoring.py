import pytest
import torch

from bench.errors import BenchError
from bench.scoring import Prepared, Scorer, join_prompt_target

ITEMS = [
    Prepared("The capital of France is", "Paris"),
    Prepared("Who is the head of state of the country where Ellie Kemper holds a citizenship?", "Croatia and more"),
    Prepared("x", "1998"),
    Prepared("The mother tongue of Danielle Darrieux is", "French"),
    Prepared("Toko Yasuda plays the", "guitar on stage"),
]


def test_batched_equals_one_at_a_time(tiny_lm):
    batched = Scorer(tiny_lm.model, tiny_lm.tokenizer, batch_size=4).score(ITEMS)
    single = Scorer(tiny_lm.model, tiny_lm.tokenizer, batch_size=1).score(ITEMS)
    for a, b in zip(batched, single):
        assert a.target_ids == b.target_ids
        assert a.pred_ids == b.pred_ids
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-5)


def test_target_span_and_logprob_match_a_manual_forward(tiny_lm):
    scorer = Scorer(tiny_lm.model, tiny_lm.tokenizer)
    item = ITEMS[3]
    enc = scorer.encode(item)
    target_ids = tiny_lm.tokenizer(" French", add_special_tokens=False).input_ids
    assert enc.ids[enc.target_start:][-len(target_ids):] == target_ids[-len(enc.ids[enc.target_start:]):]
    logits = tiny_lm.model(torch.tensor([enc.ids])).logits[0]
    logp = torch.log_softmax(logits, -1)
    manual = [logp[t - 1, enc.ids[t]].item() for t in range(enc.target_start, len(enc.ids))]
    (score,) = scorer.score([item])
    assert score.logprobs == pytest.approx(manual, abs=1e-5)
    assert score.pred_ids == [logp[t - 1].argmax().item() for t in range(enc.target_start, len(enc.ids))]


def test_order_restored_after_length_sorting(tiny_lm):
    scorer = Scorer(tiny_lm.model, tiny_lm.tokenizer, batch_size=2)
    scores = scorer.score(ITEMS)
    for item, s in zip(ITEMS, scores):
        enc = scorer.encode(item)
        assert s.target_ids == enc.ids[enc.target_start:]


def test_accuracy_is_fraction_of_matching_tokens():
    from bench.scoring import TokenScore

    s = TokenScore(target_ids=[1, 2, 3, 4], pred_ids=[1, 9, 3, 9])
    assert s.accuracy == 0.5 and s.correct == [True, False, True, False]


def test_generation_batched_equals_unbatched(tiny_lm):
    prompts = [Prepared(i.prompt) for i in ITEMS]
    a = Scorer(tiny_lm.model, tiny_lm.tokenizer, batch_size=5).generate(prompts, 6, stop_at_newline=False)
    b = Scorer(tiny_lm.model, tiny_lm.tokenizer, batch_size=1).generate(prompts, 6, stop_at_newline=False)
    assert a == b
    assert all(isinstance(t, str) and t for t in a)


def test_generation_equals_argmax_continuation(tiny_lm):
    scorer = Scorer(tiny_lm.model, tiny_lm.tokenizer)
    ids = tiny_lm.tokenizer(ITEMS[0].prompt).input_ids
    for _ in range(4):
        ids.append(tiny_lm.model(torch.tensor([ids])).logits[0, -1].argmax().item())
    expected = tiny_lm.tokenizer.decode(ids[-4:], skip_special_tokens=True).strip()
    assert scorer.generate([Prepared(ITEMS[0].prompt)], 4, stop_at_newline=False) == [expected]


def test_context_is_entered_around_every_forward(tiny_lm):
    import contextlib

    seen = []

    @contextlib.contextmanager
    def ctx(batch):
        seen.append((batch.input_ids.shape, list(batch.metas)))
        yield

    items = [Prepared(i.prompt, i.target, meta=k) for k, i in enumerate(ITEMS)]
    Scorer(tiny_lm.model, tiny_lm.tokenizer, batch_size=2).score(items, ctx)
    assert len(seen) == 3 and sorted(m for _, metas in seen for m in metas) == [0, 1, 2, 3, 4]


def test_join_prompt_target():
    assert join_prompt_target("Q:\n", "x") == "Q:\nx"
    assert join_prompt_target("a is", "b") == "a is b"


def test_empty_prompt_target_is_refused(tiny_gpt2):
    with pytest.raises(BenchError, match="cannot locate"):
        Scorer(tiny_gpt2.model, tiny_gpt2.tokenizer).encode(Prepared("", "Paris"))


def test_generation_reusing_a_prefix_cache_equals_generation_without_it(tiny_lm, monkeypatch):
    scorer = Scorer(tiny_lm.model, tiny_lm.tokenizer, batch_size=3)
    head = "Answer the questions below. The capital of France is Paris. The mother tongue of Darrieux is"
    prompts = [Prepared(f"{head} French. Question: {i.prompt}") for i in ITEMS] + [Prepared("unrelated prompt")]
    plain = scorer.generate(prompts, 8, stop_at_newline=False)
    state = scorer.prefix_state(head)
    seen = []
    real = scorer._behind
    monkeypatch.setattr(scorer, "_behind", lambda p, b: seen.append(b.input_ids.shape) or real(p, b))
    assert scorer.generate(prompts, 8, stop_at_newline=False, prefix=state) == plain
    assert sum(shape[0] for shape in seen) == len(ITEMS)  # every prompt but the unrelated one used the cache
    assert scorer.generate(prompts, 8, stop_at_newline=False, prefix=state) == plain  # the state is not consumed


def test_an_explicit_prefix_is_not_reused_with_sliding_windows(tiny_gemma3, monkeypatch):
    """Left padding behind a cached prefix would take window slots: a padded row would not be the model's."""
    scorer = Scorer(tiny_gemma3.model, tiny_gemma3.tokenizer, batch_size=4)
    head = "Answer the questions below. The capital of France is Paris."
    prompts = [Prepared(f"{head} Question: {i.prompt}") for i in ITEMS]
    assert not scorer.prefix_fits([scorer.encode(p) for p in prompts], 6)  # the window is 4 tokens
    alone = [scorer.generate([p], 6, stop_at_newline=False)[0] for p in prompts]
    monkeypatch.setattr(scorer, "_behind", lambda p, b: pytest.fail("a prefix cache was used"))
    assert scorer.generate(prompts, 6, stop_at_newline=False, prefix=scorer.prefix_state(head)) == alone


@pytest.fixture
def wide_window_gemma3(tiny_gemma3):
    """tiny-gemma3 with a 48-token window: prompts of the tests below fit in it or not, by their length."""
    import copy

    model = copy.deepcopy(tiny_gemma3.model)
    model.config.sliding_window = 48
    return Scorer(model, tiny_gemma3.tokenizer, batch_size=8)


def _row(scorer, n_words: int, target: str = "Paris"):
    return Prepared(" ".join(["the"] * 34) + " " + " ".join(["a"] * n_words), target)  # a token a word


def test_a_prefix_is_shared_on_sliding_windows_when_the_rows_fit_in_the_window(wide_window_gemma3, monkeypatch):
    """IKE's demonstrations on Gemma 3: shared (and exact) while the longest row fits in the window, and each
    row scored alone when one does not (then a padded short row would lose window slots to its padding)."""
    scorer = wide_window_gemma3
    used = []
    real = scorer._behind
    monkeypatch.setattr(scorer, "_behind", lambda p, b: used.append(b.input_ids.shape[0]) or real(p, b))
    for words, shares in (((1, 3, 6), True), ((1, 3, 30), False)):
        rows = [_row(scorer, n) for n in words]
        encoded = [scorer.encode(r) for r in rows]
        assert (max(len(e.ids) for e in encoded) <= 48) == shares and scorer.prefix_fits(encoded) == shares
        used.clear()
        together = scorer.score(rows)
        assert used == ([3] if shares else [])
        for row, score in zip(rows, together):
            (alone,) = scorer.score([row])
            assert score.pred_ids == alone.pred_ids
            assert score.logprobs == pytest.approx(alone.logprobs, abs=1e-4)
    texts = [r.prompt for r in (_row(scorer, n) for n in (1, 3, 6))]
    used.clear()
    generated = scorer.generate([Prepared(t) for t in texts], 4, stop_at_newline=False)
    assert used == [3]  # rows of up to 41 tokens + 4 new ones fit; each equals its generation alone
    assert generated == [scorer.generate([Prepared(t)], 4, stop_at_newline=False)[0] for t in texts]
    used.clear()
    scorer.generate([Prepared(t) for t in texts], 12, stop_at_newline=False)
    assert used == []  # 12 new tokens would not fit


def test_stop_pattern_ends_a_row_once_its_text_matches(tiny_lm):
    import re

    scorer = Scorer(tiny_lm.model, tiny_lm.tokenizer)
    prompt = [Prepared(ITEMS[0].prompt)]
    full = scorer.generate(prompt, 12, stop_at_newline=False)[0]
    assert len(full.split()) > 1
    pattern = re.compile(re.escape(full.split()[0]))  # matches once the first word is generated
    (short,) = scorer.generate(prompt, 12, stop_at_newline=False, stop=[pattern])
    assert full.startswith(short) and pattern.search(short) and len(short) < len(full)


def test_a_shared_prefix_is_run_once_with_the_same_scores(tiny_lm, monkeypatch):
    import bench.scoring as scoring

    head = " ".join(f"New Fact: fact number {i} is true." for i in range(8)) + " Prompt:"
    items = [Prepared(f"{head} {i.prompt}", i.target) for i in ITEMS]
    scorer = Scorer(tiny_lm.model, tiny_lm.tokenizer)
    encoded = [scorer.encode(it) for it in items]
    assert scorer.shared_prefix(encoded) >= scoring.MIN_SHARED_PREFIX
    shared = scorer.score(items)
    monkeypatch.setattr(scoring, "MIN_SHARED_PREFIX", 10**6)
    assert scorer.shared_prefix(encoded) == 0
    plain = scorer.score(items)
    for a, b in zip(shared, plain):
        assert a.target_ids == b.target_ids and a.pred_ids == b.pred_ids
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-4)


def test_shared_prefix_stops_before_the_first_target_token(tiny_lm):
    scorer = Scorer(tiny_lm.model, tiny_lm.tokenizer)
    prompt = " ".join(["word"] * 60)
    rows = [scorer.encode(Prepared(prompt, "alpha")), scorer.encode(Prepared(prompt, "beta gamma"))]
    n = scorer.shared_prefix(rows)
    assert n == min(r.target_start for r in rows) - 1
    assert scorer.shared_prefix(rows[:1]) == 0


def test_generation_shares_a_common_prefix_with_the_same_outputs(tiny_lm, monkeypatch):
    import bench.scoring as scoring

    head = " ".join(f"Q: question {i}? A: answer {i}." for i in range(8))
    prompts = [Prepared(f"{head} Q: {i.prompt}? A:") for i in ITEMS]
    scorer = Scorer(tiny_lm.model, tiny_lm.tokenizer)
    seen = []
    real = scorer.prefix_state_ids
    monkeypatch.setattr(scorer, "prefix_state_ids", lambda ids: seen.append(len(ids)) or real(ids))
    shared = scorer.generate(prompts, 8, stop_at_newline=False)
    assert seen and seen[0] >= scoring.MIN_SHARED_PREFIX
    monkeypatch.setattr(scoring, "MIN_SHARED_PREFIX", 10**6)
    assert scorer.generate(prompts, 8, stop_at_newline=False) == shared
