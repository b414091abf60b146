"""serac-icl (our SERAC variant): classifier training and checkpoint files, routing (in scope -> the edit in the
context, out -> untouched), reset."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import make_case

from bench import checkpoints
from bench.data.schema import GEN, LOC, REL, Query
from bench.editor import Request, Resources
from bench.errors import BenchError
from bench.protocols import Baseline, ProtocolConfig, evaluate
from bench.scoring import Prepared, Scorer
from editors.ike.demos import fact_block
from editors.serac.checkpoint import model_dirname, repo_root
from editors.serac.pairs import build_pairs
from editors.serac_icl import (
    CHECKPOINT_FILE,
    SERACICL,
    ScopeClassifier,
    SERACICLConfig,
    default_checkpoint_dir,
    resolve_checkpoint,
)
from editors.serac_icl.train import main as train_main
from tests.fakes import BagOfWords

SUBJECTS = ["Spike Hughes", "Toko Yasuda", "Danielle Darrieux", "Ellie Kemper", "Max Mosley", "Lita Ford",
            "Aubrey de Grey", "Kathryn Newton", "William Hogarth", "Michel Rocard", "Rainn Wilson", "Jared Kushner"]
TEMPLATES = [("Where was {} born?", "What is the birthplace of {}?"),
             ("Which language does {} speak?", "What is the mother tongue of {}?"),
             ("Which instrument does {} play?", "What instrument is played by {}?")]


def zsre_records() -> list[dict]:
    return [{"subject": s, "src": a.format(s), "rephrase": b.format(s), "alt": "Paris", "answers": ["x"],
             "loc": f"nq question: who wrote book number {i}", "loc_ans": "Homer"}
            for i, s in enumerate(SUBJECTS) for a, b in TEMPLATES]


def trained_checkpoint(root):
    """A scope classifier trained on `zsre_records()` with the bag-of-words encoder, in `root`."""
    data = root / "train.json"
    data.write_text(json.dumps(zsre_records()))
    assert train_main(["--datasets", f"mend:{data}", "--exclude", "", "--out", str(root / "ckpt"),
                       "--epochs", "300"], encoder=BagOfWords()) == 0
    return root / "ckpt" / CHECKPOINT_FILE


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return trained_checkpoint(tmp_path_factory.mktemp("serac-icl"))


def make_serac(lm, checkpoint, **kw) -> SERACICL:
    enc = BagOfWords()
    return SERACICL(lm, SERACICLConfig(checkpoint=str(checkpoint), **kw), Resources(_encoders={enc.name: enc}))


def test_training_writes_a_small_safetensors_checkpoint(checkpoint):
    assert checkpoint.stat().st_size < 100_000
    clf, meta = ScopeClassifier.load(checkpoint)
    assert meta["encoder"] == "bag-of-words" and float(meta["threshold"]) == 0.5
    assert json.loads(meta["val"])["n"] > 0


def test_classifier_round_trip_and_version_check(tmp_path):
    clf = ScopeClassifier(8, 4)
    u, v = torch.nn.functional.normalize(torch.randn(2, 3, 8), dim=-1)
    clf.save(tmp_path / "c.safetensors", {"threshold": "0.5"})
    again, meta = ScopeClassifier.load(tmp_path / "c.safetensors")
    assert torch.equal(again(u, v), clf(u, v)) and meta["threshold"] == "0.5"
    assert clf.matrix(u, v).shape == (3, 3)
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(tmp_path / "bad.safetensors"), metadata={"features": "other"})
    with pytest.raises(BenchError, match="retrain"):
        ScopeClassifier.load(tmp_path / "bad.safetensors")


def test_pairs_take_paraphrases_as_positives_and_other_edits_as_negatives():
    cases = [make_case("a"), make_case("b", "Toko Yasuda"), make_case("c", "Ellie Kemper")]
    pairs, emb = build_pairs(cases, BagOfWords().encode, n_random=1, n_hard=1)
    assert emb.shape == (len(pairs.texts), 256)
    mine = [(pairs.texts[q], y) for k, q, y, g in zip(pairs.key, pairs.query, pairs.label, pairs.group) if g == 0]
    positives = {t for t, y in mine if y == 1}
    assert positives == {q.prompt for q in cases[0].queries if q.kind in (REL, GEN)}
    negatives = {t for t, y in mine if y == 0}
    assert {q.prompt for q in cases[0].of_kind(LOC)} <= negatives
    assert negatives & {cases[1].edits[0].prompt, cases[2].edits[0].prompt}  # the nearest other edit


def test_in_scope_queries_see_the_edit_and_the_rest_is_untouched(tiny_lm, checkpoint):
    serac = make_serac(tiny_lm, checkpoint)
    case = make_case("c1", "Spike Hughes", "Paris")
    case.queries = [q for q in case.queries if q.kind in (REL, LOC)] + [
        Query(GEN, "What is the birthplace of Spike Hughes?", "Paris")]
    requests = [Request(case, q) for q in case.queries]
    base = Scorer(tiny_lm.model, tiny_lm.tokenizer).score([Prepared(q.prompt, q.answer) for q in case.queries])
    serac.edit([case])
    post = serac.score(requests)
    routed = serac.prepare(requests).fired
    assert routed == [True, False, False, True]
    sentence = case.edits[0].sentence
    assert serac.prepare(requests[:1]).prompts[0] == fact_block(sentence, case.queries[0].prompt)
    for fired, before, after in zip(routed, base, post):  # out of scope: the base model (in a padded batch)
        assert torch.allclose(torch.tensor(after.logprobs), torch.tensor(before.logprobs), atol=1e-5) != fired
    serac.reset()
    assert [s.logprobs for s in serac.score(requests)] == [s.logprobs for s in base]
    assert serac.prepare(requests).fired == [False] * 4


def test_memory_routes_each_query_to_its_own_edit(tiny_gpt2, checkpoint):
    serac = make_serac(tiny_gpt2, checkpoint)
    cases = [make_case("a", "Spike Hughes", "Paris"), make_case("b", "Toko Yasuda", "Berlin")]
    serac.edit(cases[:1])
    serac.edit(cases[1:])  # sequential: memory accumulates
    routed = serac.route(["Spike Hughes originates from", "Toko Yasuda originates from", "Who wrote the iliad?"])
    assert [e.target_new if e else None for e in routed] == ["Paris", "Berlin", None]
    assert make_serac(tiny_gpt2, checkpoint, threshold=1.0).route(["x"]) == [None]


def test_checkpoint_location_and_missing_checkpoint_message(tiny_llama, tmp_path, monkeypatch):
    monkeypatch.delenv("BENCH_CHECKPOINT_DIR", raising=False)
    committed = repo_root() / "results" / "checkpoints" / "serac-icl" / "smollm2-135m"
    assert default_checkpoint_dir("smollm2-135m") == committed
    assert model_dirname("HuggingFaceTB/SmolLM2-135M") == "HuggingFaceTB--SmolLM2-135M"
    assert resolve_checkpoint("", "smollm2-135m").is_file()  # the committed SmolLM2 checkpoint
    with pytest.raises(BenchError, match=r"bench train serac-icl --model tiny-llama.*serac-icl:checkpoint=PATH"):
        SERACICL(tiny_llama)
    with pytest.raises(BenchError, match="no checkpoint at"):
        SERACICL(tiny_llama, SERACICLConfig(checkpoint=str(tmp_path / "nothing")))


def test_bench_checkpoint_dir_is_the_root_read_at_each_call(tiny_llama, checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CHECKPOINT_DIR", str(tmp_path))
    folder = tmp_path / "serac-icl" / "tiny-llama"
    assert default_checkpoint_dir("tiny-llama") == folder
    with pytest.raises(BenchError) as err:
        SERACICL(tiny_llama)
    message = str(err.value)
    assert f"no checkpoint at {folder / CHECKPOINT_FILE}" in message and "from $BENCH_CHECKPOINT_DIR" in message
    assert "python -m bench train serac-icl --model tiny-llama" in message and "serac-icl:checkpoint=PATH" in message
    folder.mkdir(parents=True)
    (folder / CHECKPOINT_FILE).write_bytes(checkpoint.read_bytes())
    assert SERACICL(tiny_llama).checkpoint == folder / CHECKPOINT_FILE
    monkeypatch.setenv("BENCH_CHECKPOINT_DIR", str(tmp_path / "elsewhere"))
    assert default_checkpoint_dir("tiny-llama") == tmp_path / "elsewhere" / "serac-icl" / "tiny-llama"


def test_without_a_checkpoint_root_serac_says_how_to_get_one(tiny_llama, tmp_path, monkeypatch):
    monkeypatch.delenv("BENCH_CHECKPOINT_DIR", raising=False)
    monkeypatch.setattr(checkpoints, "CHECKOUT_ROOT", tmp_path / "absent")  # as a wheel install: no checkout
    with pytest.raises(BenchError) as err:
        SERACICL(tiny_llama)
    message = str(err.value)
    assert "$BENCH_CHECKPOINT_DIR is not set" in message and f"looked for {tmp_path / 'absent'}" in message
    assert "BENCH_CHECKPOINT_DIR=DIR python -m bench train serac-icl --model tiny-llama" in message
    assert "'serac-icl:checkpoint=PATH'" in message


def test_a_batch_is_prepared_as_its_requests_one_by_one_and_the_protocol_records_fired(tiny_llama, checkpoint):
    serac = make_serac(tiny_llama, checkpoint)
    case = make_case("c1", "Spike Hughes", "Paris")
    case.queries = case.queries + [Query(LOC, "Spike Hughes was born in", "London")]  # in scope: rewritten
    requests = [Request(case, q) for q in case.queries]
    serac.edit([case])
    expected = [serac.prepare([r]).prompts[0] for r in requests]
    assert serac.prepare(requests).prompts == expected and expected[-1] != requests[-1].text
    fired = serac.prepare(requests).fired
    rows = evaluate(serac, [case], Baseline(Scorer(tiny_llama.model, tiny_llama.tokenizer)),
                    ProtocolConfig("single"))
    assert [r["fired"] for r in rows] == fired
    loc = [r for r in rows if r["kind"] == LOC]
    assert loc[-1]["loc_paper"] == max(loc[-1]["loc_e0"], loc[-1]["loc"], loc[-1]["acc"])
    assert all(r["loc_e0"] == r["loc"] for r, p in zip(rows, expected) if r["kind"] == LOC and p == r["prompt"])
