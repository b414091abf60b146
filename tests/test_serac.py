"""SERAC as published: the hooked LoRA adapter, the embedding scope classifier, training (loss falls, resume is
exact, the checkpoint round-trips) and the editor (routing by hand, out-of-scope queries = the base model)."""

from __future__ import annotations

import json
import math

import pytest
import torch
from conftest import make_case
from safetensors.torch import load_file

from bench import checkpoints
from bench.data.overlap import EvalTexts
from bench.data.schema import GEN, LOC, REL, EditCase, Query
from bench.editor import Request, Resources
from bench.errors import BenchError
from bench.restore import fingerprint
from bench.resume import check_editor_resume
from bench.scoring import Prepared, Scorer
from editors.lora.hooked import HookedLoRA
from editors.lora.targets import target_modules
from editors.serac import SERAC, EmbeddingScope, SERACConfig
from editors.serac import checkpoint as ckpt
from editors.serac.counterfactual import counterfactual_prompt
from editors.serac.data import counterfactual_examples, training_cases
from editors.serac.pairs import Pairs, validate
from editors.serac.scope import scope_loss
from editors.serac.train import batch_rows, main
from tests.fakes import BagOfWords
from tests.test_serac_icl import zsre_records

TRAIN = ["--model", "tiny-llama", "--no-overlap-filter", "--batch-size", "4", "--save-every", "3", "--lr", "1e-2"]


def train(root, *extra, max_steps=0) -> int:
    data = root / "train.json"
    data.write_text(json.dumps(zsre_records()))
    return main([*TRAIN, "--data", f"mend:{data}", "--out", str(root / "ckpt"), *extra], encoder=BagOfWords(),
                max_steps=max_steps)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("serac")
    assert train(root, "--steps", "12") == 0
    return root / "ckpt"


def hand_checkpoint(lm, root):
    """A checkpoint for `lm` made by hand: the identity scope (in scope iff exp(2 cos - 2) > 0.5, i.e. cos >
    0.653) and an adapter whose B is random, so it visibly changes the rows it touches."""
    targets = target_modules(lm.model, "q,v", [])
    adapter = HookedLoRA(lm.model, targets, 2, 4)
    with torch.no_grad():
        for b in adapter.B.values():
            b.normal_()
    info = ckpt.SeracInfo(model=lm.name, encoder="bag-of-words", threshold=0.5, parts="q,v", rank=2, alpha=4,
                          targets=targets, train_data=[], seed=0, total_steps=1, steps_done=1, scope_done=True)
    ckpt.save(root, info, scope=EmbeddingScope(256).state_dict(), counterfactual=adapter.tensors())
    return root


def make_serac(lm, checkpoint, **kw) -> SERAC:
    enc = BagOfWords()
    return SERAC(lm, SERACConfig(checkpoint=str(checkpoint), **kw), Resources(_encoders={enc.name: enc}))


def logprobs(scores):
    return [s.logprobs for s in scores]


# -- the adapter -------------------------------------------------------------------------------------------------
def test_hooked_lora_adds_the_low_rank_update_to_chosen_rows_only(tiny_lm):
    model = tiny_lm.model
    targets = target_modules(model, "q,v", [0])
    adapter = HookedLoRA(model, targets, rank=2, alpha=4)
    ids = torch.tensor([[5, 6, 7], [8, 9, 10]])
    base = model(input_ids=ids).logits
    with adapter.active(model):
        assert torch.equal(model(input_ids=ids).logits, base)  # B = 0: a fresh adapter changes nothing
    with torch.no_grad():
        for b in adapter.B.values():
            b.normal_()
    seen = {}
    module = dict(model.named_modules())[targets[0]]
    with adapter.active(model, torch.tensor([True, False])):
        handle = module.register_forward_hook(lambda m, i, o: seen.update(x=i[0], out=o))  # runs after the adapter's
        mixed = model(input_ids=ids).logits
        handle.remove()
    x, out = seen["x"], seen["out"]
    a, b = adapter.A[targets[0].replace(".", "__")], adapter.B[targets[0].replace(".", "__")]
    plain = module(x)[1:]  # the module alone on the same batch, no adapter: what row 1 must keep, bit for bit
    assert torch.allclose(out[0], module(x[:1])[0] + 2.0 * x[0] @ a.T @ b.T, atol=1e-5)  # alpha / rank = 2
    assert torch.equal(out[1], plain[0])
    assert not torch.allclose(mixed[0], base[0]) and torch.equal(mixed[1], base[1])
    assert all(not m._forward_hooks for m in model.modules())  # hooks gone after the context


def test_hooked_lora_tensors_round_trip_and_refuse_other_targets(tiny_llama):
    targets = target_modules(tiny_llama.model, "q,v", [])
    adapter, again = HookedLoRA(tiny_llama.model, targets, 2, 4, seed=1), HookedLoRA(tiny_llama.model, targets, 2, 4)
    again.load_tensors(adapter.tensors())
    assert all(torch.equal(v, again.tensors()[k]) for k, v in adapter.tensors().items())
    with pytest.raises(BenchError, match="do not fit"):
        HookedLoRA(tiny_llama.model, targets[:1], 2, 4).load_tensors(adapter.tensors())


# -- the scope classifier ----------------------------------------------------------------------------------------
def test_embedding_scope_starts_as_exp_of_minus_the_squared_distance():
    u = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0]]), dim=-1)
    v = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    scope = EmbeddingScope(3)
    assert torch.allclose(scope.log_sim(u, v), torch.tensor([0.0, -2.0]))  # |u - v|^2 = 2 - 2 cos
    expected = torch.tensor([[1.0, math.exp(-2)], [math.exp(2 * 0.6 - 2), math.exp(-2)]])
    assert torch.allclose(scope.matrix(v, u).T, expected, atol=1e-6)
    # balanced BCE: -mean log g over in-scope pairs - mean log(1 - g) over the others
    loss = scope_loss(torch.tensor([math.log(0.5), math.log(0.25), math.log(0.75)]), torch.tensor([1.0, 0.0, 0.0]))
    assert loss.item() == pytest.approx(-math.log(0.5) - (math.log(0.75) + math.log(0.25)) / 2, rel=1e-5)



def test_validation_reports_the_recall_of_paraphrases_apart_from_the_edit_prompt_itself():
    # texts 0, 1: edit prompts; 2: a paraphrase of edit 0; 3: another edit's locality prompt
    emb = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.8, 0.6], [0.0, 1.0]])
    pairs = Pairs(["e0", "e1", "p0", "l1"], key=[0, 0, 1, 1, 0], query=[0, 2, 1, 3, 3],
                  label=[1.0, 1.0, 1.0, 0.0, 0.0], group=[0, 0, 1, 1, 0])
    scope = EmbeddingScope(2)  # identity: g(e0, p0) = exp(-0.4) = 0.67, g(e1, l1) = 1, g(e0, l1) = exp(-2)
    got = validate(lambda u, v: scope.log_sim(u, v).exp(), pairs, emb, [0, 1, 2, 3, 4], threshold=0.7)
    # self pairs (0, 2) are in scope by construction; the one paraphrase (1) is missed at threshold 0.7
    assert got == {"n": 5, "accuracy": 0.6, "in_scope_recall": round(2 / 3, 4), "paraphrase_recall": 0.0,
                   "out_of_scope_recall": 0.5}
    assert validate(lambda u, v: scope.log_sim(u, v).exp(), pairs, emb, [0, 3], 0.7)["paraphrase_recall"] is None

# -- training data -----------------------------------------------------------------------------------------------
def test_training_cases_drop_overlaps_and_examples_read_edit_then_query(tmp_path):
    data = tmp_path / "train.json"
    data.write_text(json.dumps(zsre_records()[:3]))
    evaluation = EvalTexts()
    evaluation.prompts.add("nq question: who wrote book number 0")  # every record of subject 0 has it
    kept = training_cases([f"mend:{data}"], None, 0, 0, evaluation)
    assert kept.cases == [] and kept.exclusion.records_removed == 3
    assert kept.exclusion.to_json()["roles"] == "cross"  # recorded in config.json: the filter compared any roles
    # across roles (issue 37): a record's paraphrase shown by an evaluation as a neighbourhood prompt drops it
    shown = EvalTexts()
    shown.add([EditCase("e", "counterfact", [], [Query(LOC, zsre_records()[1]["rephrase"], "x")], {})])
    kept = training_cases([f"mend:{data}"], None, 0, 0, shown)
    assert kept.exclusion.records_removed == 1
    assert zsre_records()[1]["src"] not in [c.edits[0].prompt for c in kept.cases]
    cases = training_cases([f"mend:{data}"], None, 2, 0, None).cases
    assert len(cases) == 2
    examples = counterfactual_examples(cases)
    assert [e.prompt for e in examples[:2]] == [
        f"edit: {cases[0].edits[0].sentence} query: {q.prompt}" for q in cases[0].queries if q.kind in (REL, GEN)]
    assert {e.target for e in examples} == {"Paris"}


def test_batches_are_a_function_of_the_step():
    first_epoch = batch_rows(6, 0, 3, 7) + batch_rows(6, 1, 3, 7)
    assert sorted(first_epoch) == list(range(6))  # one permutation per epoch, cut in consecutive batches
    assert sorted(batch_rows(6, 2, 3, 7) + batch_rows(6, 3, 3, 7)) == list(range(6))
    assert batch_rows(6, 2, 3, 7) + batch_rows(6, 3, 3, 7) != first_epoch  # each epoch its own order
    assert batch_rows(5, 1, 3, 7) == batch_rows(5, 1, 3, 7)[:2] + batch_rows(5, 1, 3, 7)[2:]  # crosses an epoch


# -- training ----------------------------------------------------------------------------------------------------
def test_training_lowers_the_loss_and_writes_a_small_safetensors_checkpoint(trained):
    losses = [float(line.split(",")[2]) for line in (trained / "loss.csv").read_text().splitlines()[1:]]
    assert len(losses) == 12 and sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.5
    info = ckpt.read_info(trained)
    assert info.scope_done and info.steps_done == info.total_steps == 12 and info.encoder == "bag-of-words"
    assert {p.name for p in trained.iterdir()} == {ckpt.SCOPE, ckpt.COUNTERFACTUAL, ckpt.INFO, ckpt.OPTIMIZER,
                                                   "loss.csv"}
    adapter = sum(v.numel() for v in load_file(str(trained / ckpt.COUNTERFACTUAL)).values())
    assert adapter == sum(4 * (m.weight.shape[0] + m.weight.shape[1]) for m in _targets(trained))  # rank 4
    assert (trained / ckpt.SCOPE).stat().st_size < 4 * 256 * 256 + 1024  # W alone, float32


def _targets(trained):
    from bench.models import load_model

    modules = dict(load_model("tiny-llama", device="cpu").model.named_modules())
    return [modules[path] for path in ckpt.read_info(trained).targets]


def test_resume_gives_the_weights_of_an_uninterrupted_run(trained, tmp_path):
    assert train(tmp_path, "--steps", "12", max_steps=5) == 130  # stopped as a signal would
    assert ckpt.read_info(tmp_path / "ckpt").steps_done == 5
    assert train(tmp_path, "--steps", "12", "--resume") == 0
    for name in (ckpt.SCOPE, ckpt.COUNTERFACTUAL):
        one, two = load_file(str(trained / name)), load_file(str(tmp_path / "ckpt" / name))
        assert one.keys() == two.keys() and all(torch.equal(one[k], two[k]) for k in one)
    assert train(tmp_path, "--steps", "12") == 2  # an existing checkpoint is not overwritten silently


def test_the_editor_loads_exactly_what_training_saved(tiny_llama, trained):
    serac = make_serac(tiny_llama, trained)
    saved = load_file(str(trained / ckpt.COUNTERFACTUAL))
    assert serac.adapter.tensors().keys() == saved.keys()
    assert all(torch.equal(serac.adapter.tensors()[k], saved[k]) for k in saved)
    assert torch.equal(serac.scope.proj.weight, load_file(str(trained / ckpt.SCOPE))["proj.weight"])
    assert serac.threshold == 0.5 and serac.describe()["steps_trained"] == 12


# -- the editor --------------------------------------------------------------------------------------------------
def test_routing_by_hand(tiny_gpt2, tmp_path):
    serac = make_serac(tiny_gpt2, hand_checkpoint(tiny_gpt2, tmp_path))
    cases = [make_case("a", "Spike Hughes", "Paris"), make_case("b", "Toko Yasuda", "Berlin")]
    serac.edit(cases[:1])
    serac.edit(cases[1:])  # sequential: memory accumulates
    routed = serac.route(["Spike Hughes originates from", "Toko Yasuda originates from", "Who wrote the iliad?"])
    assert [e.target_new if e else None for e in routed] == ["Paris", "Berlin", None]
    request = Request(cases[0], cases[0].queries[0])
    assert serac.prepare([request]).items == [Prepared(counterfactual_prompt(cases[0].edits[0], request.text),
                                                       "Paris", True)]
    serac.reset()
    assert serac.memory == [] and serac.route(["Spike Hughes originates from"]) == [None]


def test_out_of_scope_queries_get_exactly_the_base_models_logits(tiny_lm, tmp_path):
    serac = make_serac(tiny_lm, hand_checkpoint(tiny_lm, tmp_path))
    case = make_case("c1", "Spike Hughes", "Paris")
    case.queries = [q for q in case.queries if q.kind in (REL, LOC)] + [Query(LOC, "Who wrote the iliad?", "Homer")]
    requests = [Request(case, q) for q in case.queries]
    base = Scorer(tiny_lm.model, tiny_lm.tokenizer).score([Prepared(q.prompt, q.answer) for q in case.queries])
    before = fingerprint(tiny_lm.model)
    serac.edit([case])
    assert serac.prepare(requests).fired == [True, False, False, False]
    assert logprobs(serac.score(requests[1:])) == logprobs(base[1:])  # a batch with nothing routed
    scorer = Scorer(tiny_lm.model, tiny_lm.tokenizer)
    for request in requests[1:]:  # and each alone (against the base model alone: no padding either)
        alone = scorer.score([Prepared(request.text, request.query.answer)])
        assert logprobs(serac.score([request])) == logprobs(alone)
    assert logprobs(serac.score(requests[:1])) != logprobs(base[:1])  # the routed query: the counterfactual model
    serac.reset()
    assert logprobs(serac.score(requests)) == logprobs(base) and fingerprint(tiny_lm.model) == before


def test_missing_checkpoint_says_how_to_train_one(tiny_llama, tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CHECKPOINT_DIR", str(tmp_path))
    with pytest.raises(BenchError) as err:
        SERAC(tiny_llama)
    message = str(err.value)
    assert f"no checkpoint at {tmp_path / 'serac' / 'tiny-llama' / ckpt.INFO}" in message
    assert "python -m bench train serac --model tiny-llama" in message and "serac:checkpoint=PATH" in message
    monkeypatch.delenv("BENCH_CHECKPOINT_DIR")
    monkeypatch.setattr(checkpoints, "CHECKOUT_ROOT", tmp_path / "absent")  # as a wheel install: no checkout
    with pytest.raises(BenchError, match=r"\$BENCH_CHECKPOINT_DIR is not set"):
        SERAC(tiny_llama)


def test_a_checkpoint_of_another_model_is_refused(tiny_gpt2, trained):
    with pytest.raises(BenchError, match="trained for model 'tiny-llama' and does not fit 'tiny-gpt2'"):
        make_serac(tiny_gpt2, trained)


def test_a_run_of_the_earlier_variant_recorded_as_serac_is_not_resumed_with_this_one(tmp_path):
    recorded = {"config": {"name": "serac", "checkpoint": "", "threshold": -1.0}}  # results/suite-smollm2/zsre
    now = {"name": "serac", **{k: v for k, v in vars(SERACConfig()).items()}}
    with pytest.raises(BenchError, match="threshold=-1.0"):
        check_editor_resume(tmp_path / "config.json", "serac", recorded, now)
