"""GRACE: codebook update rules, exact base logits when inactive, left-padded keys, generation, exact reset."""

from __future__ import annotations

import pytest
import torch
from conftest import assert_batched_equals_alone, make_case

from bench.data.schema import LOC, REL, Edit, EditCase, Query
from bench.editor import Request
from bench.errors import BenchError
from bench.restore import parameter_hash
from bench.scoring import Scorer
from editors.grace import GRACE, Codebook, GRACEConfig, edit_layer

TIGHT = dict(eps=0.05, n_iter=60)  # tiny-model keys of different prompts lie >= 0.12 apart


def requests(case):
    return [Request(case, q) for q in case.queries]


def test_codebook_add_expand_split_and_replace():
    book = Codebook(eps_init=1.0)
    v = torch.zeros(3)
    assert book.insert(torch.tensor([0.0, 0.0]), v, "a") == 0
    assert book.insert(torch.tensor([5.0, 0.0]), v, "b") == 1  # far away: a new entry
    assert book.insert(torch.tensor([1.5, 0.0]), v, "a") == 0  # same label within eps + eps_j: expand
    assert book.eps[0] == pytest.approx(1.5)
    assert book.insert(torch.tensor([0.0, 1.2]), v, "c") == 2  # different label, close: split radii
    assert book.eps[0] == pytest.approx(0.6 - 1e-5) and book.eps[2] == pytest.approx(0.6)
    assert book.insert(torch.tensor([5.0, 0.0]), torch.ones(3), "d") == 1  # same key, new label: newest wins
    assert book.labels[1] == "d" and torch.equal(book.values[1], torch.ones(3)) and len(book) == 3
    dist, idx, inside = book.nearest(torch.tensor([[0.0, 0.1], [9.0, 9.0]]))
    assert idx.tolist() == [0, 1] and inside.tolist() == [True, False]


def test_default_layer_is_scaled_from_27_of_32(tiny_llama):
    assert edit_layer(tiny_llama.model, GRACEConfig()) == 3
    assert edit_layer(tiny_llama.model, GRACEConfig(layer=1)) == 1
    with pytest.raises(BenchError, match="val_init"):
        GRACE(tiny_llama, GRACEConfig(val_init="hot"))


def test_edit_changes_only_queries_within_the_radius_and_reset_is_exact(tiny_lm):
    case = make_case(target="Paris")  # one token in both tiny tokenizers
    scorer = Scorer(tiny_lm.model, tiny_lm.tokenizer)
    plain = [r.query for r in requests(case)]
    base = scorer.score(GRACE(tiny_lm).prepare([Request(case, q) for q in plain]).items)
    editor = GRACE(tiny_lm, GRACEConfig(**TIGHT))
    assert [s.logprobs for s in editor.score(requests(case))] == [s.logprobs for s in base]  # inactive: exact
    weights = parameter_hash(tiny_lm.model)
    editor.edit([case])
    post = editor.score(requests(case))
    assert post[0].accuracy == 1.0 and post[0].logprob > base[0].logprob
    for q, before, after in zip(case.queries[1:], base[1:], post[1:]):
        assert after.logprobs == before.logprobs, q.prompt  # keys outside the radius: untouched, bitwise
    assert parameter_hash(tiny_lm.model) == weights
    editor.reset()
    assert not editor.module._forward_hooks
    assert [s.logprobs for s in editor.score(requests(case))] == [s.logprobs for s in base]


def test_batched_left_padded_scoring_equals_one_at_a_time(tiny_lm):
    case = make_case(target="Paris")
    editor = GRACE(tiny_lm, GRACEConfig(eps=1.0, n_iter=30))  # wide radius: several rows fire
    editor.edit([case])
    assert_batched_equals_alone(editor, requests(case))
    editor.reset()


def test_generation_uses_the_codebook_from_the_prompt_on(tiny_lm):
    case = make_case(target="Paris")
    editor = GRACE(tiny_lm, GRACEConfig(**TIGHT))
    rel, loc = Request(case, case.of_kind(REL)[0]), Request(case, case.of_kind(LOC)[0])
    base_loc = editor.generate([loc], 6)
    editor.edit([case])
    rel_text, loc_text = editor.generate([rel, loc], 6)
    assert rel_text.startswith("Paris")
    assert loc_text == base_loc[0]
    editor.reset()


def test_sequential_edits_accumulate_and_conflicts_resolve_to_the_newest(tiny_gpt2):
    editor = GRACE(tiny_gpt2, GRACEConfig(**TIGHT))
    first, second = make_case("c1", target="Paris"), make_case("c2", "Toko Yasuda", "Berlin")
    editor.edit([first])
    editor.edit([second])
    assert len(editor.codebook) == 2
    both = editor.score([Request(c, c.of_kind(REL)[0]) for c in (first, second)])
    assert [s.accuracy for s in both] == [1.0, 1.0]
    rewrite = make_case("c3", target="French")  # the first prompt again, another target
    editor.edit([rewrite])
    assert len(editor.codebook) == 2 and editor.codebook.labels[0] == "French"
    assert editor.score([Request(rewrite, rewrite.of_kind(REL)[0])])[0].accuracy == 1
    editor.reset()
    assert len(editor.codebook) == 0


def test_a_stream_resumed_from_its_sequential_state_continues_exactly(tiny_gpt2):
    """GRACE gave no state, so a resumed stream replayed every edit (a 10,000-edit stream: hours)."""
    first, second = make_case("c1", target="Paris"), make_case("c2", "Toko Yasuda", "Berlin")
    rewrite = make_case("c3", target="French")  # the first key again: the labels decide (replace, not split)
    editor = GRACE(tiny_gpt2, GRACEConfig(**TIGHT))
    editor.edit([first, second])
    state = editor.sequential_state()
    editor.edit([rewrite])
    continued = editor.score([Request(c, q) for c in (first, second, rewrite) for q in c.queries])
    book = editor.codebook
    editor.reset()
    resumed = GRACE(tiny_gpt2, GRACEConfig(**TIGHT))
    resumed.load_sequential_state(state)
    resumed.edit([rewrite])
    assert resumed.codebook.labels == book.labels == ["French", "Berlin"] and resumed.codebook.eps == book.eps
    assert all(torch.equal(a, b) for a, b in zip(resumed.codebook.values, book.values))
    assert resumed.score([Request(c, q) for c in (first, second, rewrite) for q in c.queries]) == continued
    resumed.reset()


@pytest.mark.integration
def test_smollm2_edit_is_reliable_local_and_exactly_reset():
    from bench.models import load_model

    lm = load_model("smollm2-135m", device="cpu")
    prompt = "What is the native language of Danielle Darrieux?"
    case = EditCase("z", "fixture", [Edit(prompt, "Danielle Darrieux", "Swedish")],
                    [Query(REL, prompt, "Swedish"), Query(LOC, "nq question: who wrote the iliad", "Homer")])
    editor = GRACE(lm)
    base = editor.score(requests(case))
    editor.edit([case])
    post = editor.score(requests(case))
    assert post[0].accuracy == 1.0 and post[1].logprobs == base[1].logprobs
    editor.reset()
    assert [s.logprobs for s in editor.score(requests(case))] == [s.logprobs for s in base]
