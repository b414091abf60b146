"""Training: the loss is the scorer's answer-token cross-entropy, the schedule, a tiny run, and resuming it."""

from __future__ import annotations

import os

import pytest
import torch

from bench.arch import scaled_layer_range
from bench.scoring import Prepared, Scorer
from editors.instructed import checkpoint as ckpt
from editors.instructed.attention import forward_context
from editors.instructed.data import build_pairs
from editors.instructed.instructions import Spanner
from editors.instructed.prefix import PrefixBank
from editors.instructed.testing import HashEncoder, fixture_cases, tiny_lm
from editors.instructed.train import (
    Trainer,
    _info,
    add_base_locality_labels,
    batch_loss,
    encode_pairs,
    lr_factor,
    main,
    parse_args,
    parse_layers,
    restore_optimizer,
)
from editors.instructed.trained_cases import describe as describe_trained


def test_schedule_warms_up_then_decays_to_zero():
    factors = [lr_factor(s, 4, 10) for s in range(10)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]
    assert factors[4] == 1.0 and all(a > b for a, b in zip(factors[4:], factors[5:])) and factors[-1] > 0
    assert lr_factor(10, 4, 10) == pytest.approx(0.0)


def test_parse_layers():
    lm = tiny_lm("tiny-llama")
    assert parse_layers("", lm.model) == scaled_layer_range(lm.model, 10, 20, 32)
    assert parse_layers("0:3", lm.model) == [0, 1, 2]
    assert parse_layers("1,3", lm.model) == [1, 3]
    assert parse_layers("late", lm.model) == scaled_layer_range(lm.model, 20, 30, 32) == [3]


@pytest.fixture(scope="module", params=["tiny-llama", "tiny-gpt2"])
def setup(request):
    lm = tiny_lm(request.param)
    scorer = Scorer(lm.model, lm.tokenizer)
    pairs = build_pairs(fixture_cases())
    return lm, scorer, pairs, encode_pairs(pairs, scorer, Spanner(lm.tokenizer), HashEncoder())


def test_loss_is_the_mean_answer_token_cross_entropy(setup):
    lm, scorer, _, examples = setup
    bank = PrefixBank.for_model(lm.model, [1, 2])
    context = forward_context(lm.model, bank, True, False)
    items = [e.edit for e in examples] + [e.loc for e in examples]
    with torch.no_grad():
        loss, per_row = batch_loss(lm.model, scorer.collate(items), items, context)
    logprobs = []
    for e in items:  # the scorer, one row at a time, on the same token ids
        with torch.no_grad():
            logits = scorer.logits(scorer.collate([e]), context)[0].float().log_softmax(-1)
        logprobs.append([float(logits[i - 1, e.ids[i]]) for i in range(e.target_start, len(e.ids))])
    tokens = [-x for row in logprobs for x in row]
    assert float(loss) == pytest.approx(sum(tokens) / len(tokens), abs=1e-4)
    assert per_row.tolist() == pytest.approx([-sum(r) / len(r) for r in logprobs], abs=1e-4)


def test_a_tiny_run_lowers_the_loss_and_resumes(setup, tmp_path):
    lm, _, pairs, examples = setup
    args = parse_args(["--model", lm.name, "--batch-size", "1", "--lr", "0.3", "--warmup", "0.1"])
    layers = [1, 2]
    bank = PrefixBank.for_model(lm.model, layers)
    info = _info(args, lm, layers, True, ["fixture"], len(pairs))
    trainer = Trainer(args, lm, bank, info, examples, describe_trained(pairs, None), tmp_path)
    trainer.run(epochs=4)
    losses = [row["loss"] for row in trainer.history]
    assert len(losses) == 12 and losses[-1] < losses[0] - 0.02  # random tiny models: small but steady
    for name in (ckpt.WEIGHTS, ckpt.INFO, ckpt.TRAINED, ckpt.OPTIMIZER, "loss.png", "loss.csv"):
        assert (tmp_path / name).is_file()
    tensors, info, trained = ckpt.load(tmp_path)
    assert (info.epochs_done, info.steps_done, trained.case_ids) == (4, 12, {"fixture-cf": ["1", "2", "3"]})

    resumed_bank = PrefixBank.for_model(lm.model, layers, seed=5)
    resumed_bank.load_state_dict(tensors)
    again = Trainer(args, lm, resumed_bank, info, examples, trained, tmp_path)
    restore_optimizer(again.optimizer, resumed_bank, ckpt.load_optimizer(tmp_path))
    for p_old, p_new in zip(bank.parameters(), resumed_bank.parameters()):
        old, new = trainer.optimizer.state[p_old], again.optimizer.state[p_new]
        assert torch.equal(old["exp_avg_sq"], new["exp_avg_sq"]) and float(old["step"]) == float(new["step"])
    again.run(epochs=5)
    assert ckpt.load(tmp_path)[1].steps_done == 15 and len(again.history) == 15


@pytest.mark.skipif(not os.environ.get("BENCH_DATA_DIR"), reason="needs the real data (BENCH_DATA_DIR)")
def test_cli_trains_and_resumes_on_real_data(tmp_path):
    out = str(tmp_path / "ck")
    assert main(["--model", "tiny-gpt2", "--max-examples", "6", "--epochs", "1", "--out", out]) == 0
    assert main(["--model", "tiny-gpt2", "--max-examples", "6", "--epochs", "1", "--out", out]) == 2  # exists
    assert main(["--resume-from", out, "--epochs", "2"]) == 0
    _, info, trained = ckpt.load(tmp_path / "ck")
    assert info.epochs_done == 2 and info.train_data == ["counterfact-train", "mquake"]
    assert sum(s.count for s in trained.registered.values()) == 6 and trained.case_ids == {}


def test_base_locality_labels_are_the_unedited_predictions(setup):
    lm, scorer, pairs, examples = setup
    examples = encode_pairs(pairs, scorer, Spanner(lm.tokenizer), HashEncoder())
    add_base_locality_labels(examples, pairs, scorer)
    plain = scorer.score([Prepared(p.loc.question, p.loc.answer) for p in pairs])
    assert [e.loc_labels for e in examples] == [s.pred_ids for s in plain]
    items = [e.loc for e in examples]
    context = forward_context(lm.model, PrefixBank.for_model(lm.model, [1]), True, False)
    with torch.no_grad():
        _, gold = batch_loss(lm.model, scorer.collate(items), items, context)
        _, base = batch_loss(lm.model, scorer.collate(items), items, context, [e.loc_labels for e in examples])
    assert not torch.allclose(gold, base)  # a random model's argmax is not the gold answer
