"""Training: the loss is the scorer's answer-token cross-entropy, the schedule, a tiny run, and resuming it."""

from __future__ import annotations

import logging
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
    train_config,
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


def tiny_args(lm, *extra: str):
    return train_config(parse_args(["--model", lm.name, "--batch-size", "1", "--lr", "0.3", "--warmup", "0.1",
                                     *extra]))


def test_a_tiny_run_lowers_the_loss_and_resumes(setup, tmp_path):
    lm, _, pairs, examples = setup
    args = tiny_args(lm)
    layers = [1, 2]
    bank = PrefixBank.for_model(lm.model, layers)
    info = _info(args, lm, layers, True, ["fixture"], len(pairs), None)
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
def test_cli_trains_and_resumes_on_real_data(tmp_path, caplog):
    out = str(tmp_path / "ck")
    assert main(["--model", "tiny-gpt2", "--max-examples", "6", "--epochs", "1", "--out", out]) == 0
    assert main(["--model", "tiny-gpt2", "--max-examples", "6", "--epochs", "1", "--out", out]) == 2  # exists
    assert main(["--resume", "--out", out, "--epochs", "2"]) == 0
    _, info, trained = ckpt.load(tmp_path / "ck")
    assert info.epochs_done == 2 and info.train_data == ["counterfact-train", "mquake"]
    assert info.sink_kept and info.hyper["recipe"] == "authors" and info.exclusion["records_removed"] > 3000
    assert info.exclusion["roles"] == "cross"  # trained with the filter across roles: the editor refuses any overlap
    assert (info.scaling, info.compat) == ("rows", "paper")  # the default; compat as readers before 2026-12-06 read it
    assert len(trained.locality) == 6
    assert sum(s.count for s in trained.registered.values()) == 6 and trained.case_ids == {}
    (tmp_path / "ck" / ckpt.OPTIMIZER).unlink()  # a copy without its optimizer state resumes, and says so
    with caplog.at_level(logging.WARNING, logger="editors.instructed.train"):
        assert main(["--resume", "--out", out, "--epochs", "2"]) == 0  # finished: nothing to continue
        assert "AdamW" not in caplog.text
        assert main(["--resume", "--out", out, "--epochs", "3"]) == 0
    assert "no optimizer.safetensors: AdamW's moments start again from zero" in caplog.text


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


def test_a_run_stopped_mid_epoch_resumes_to_the_uninterrupted_result(setup, tmp_path):
    """Saved in the middle of an epoch (as on SIGTERM or every --save-every steps), then continued: the same
    batches in the same order with the same optimizer state, so the tensors equal an uninterrupted run's."""
    lm, _, pairs, examples = setup
    args, layers, trained = tiny_args(lm), [1, 2], describe_trained(pairs, None)
    whole = Trainer(args, lm, PrefixBank.for_model(lm.model, layers), _info(args, lm, layers, True, ["f"], 3, None),
                    examples, trained, tmp_path / "whole")
    assert whole.run(epochs=2)
    part = Trainer(args, lm, PrefixBank.for_model(lm.model, layers), _info(args, lm, layers, True, ["f"], 3, None),
                   examples, trained, tmp_path / "part")
    assert not part.run(epochs=2, max_steps=4)  # epoch 2, after its first batch
    tensors, info, _ = ckpt.load(tmp_path / "part")
    assert (info.epochs_done, info.batches_done, info.steps_done) == (1, 1, 4)
    bank = PrefixBank.for_model(lm.model, layers, seed=9)
    bank.load_state_dict(tensors)
    again = Trainer(args, lm, bank, info, examples, trained, tmp_path / "part")
    restore_optimizer(again.optimizer, bank, ckpt.load_optimizer(tmp_path / "part"))
    assert again.run(epochs=2)
    for name, value in whole.bank.state_dict().items():
        assert torch.equal(value, bank.state_dict()[name]), name
    assert [r["loss"] for r in again.history] == [r["loss"] for r in whole.history]


def test_a_stop_request_saves_after_the_current_step(setup, tmp_path):
    lm, _, pairs, examples = setup
    args, layers = tiny_args(lm), [1]
    trainer = Trainer(args, lm, PrefixBank.for_model(lm.model, layers), _info(args, lm, layers, True, ["f"], 3, None),
                      examples, describe_trained(pairs, None), tmp_path)
    trainer.request_stop(15, None)  # what the SIGTERM handler calls
    assert trainer.run(epochs=3) is False
    assert ckpt.load(tmp_path)[1].steps_done == 1
    assert (tmp_path / "loss.png").stat().st_size > 0  # the curve so far, for a run continued later


def test_recipes_give_the_authors_optimiser_by_default():
    args = train_config(parse_args([]))
    assert (args.recipe, args.batch_size, args.epochs, args.weight_decay, args.warmup) == ("authors", 6, 10, 0.02, 0.4)
    assert args.lr == pytest.approx(9e-3 * 6 / 256) and tuple(args.betas) == (0.9, 0.95)
    args = train_config(parse_args(["--batch-size", "24"]))
    assert args.lr == pytest.approx(9e-3 * 24 / 256)  # their rule: base lr scaled by the batch
    args = train_config(parse_args(["--recipe", "ours-v1"]))
    assert args.lr == 9e-3 and tuple(args.betas) == (0.9, 0.999)
    args = train_config(parse_args(["--lr", "1e-3"]))
    assert args.lr == 1e-3
    trainer_betas = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], betas=tuple(parse_and_resolve().betas))
    assert trainer_betas.param_groups[0]["betas"] == (0.9, 0.95)


def parse_and_resolve(*argv: str):
    return train_config(parse_args(list(argv)))


def test_the_config_is_built_once_and_leaves_the_parsed_flags_alone():
    import dataclasses

    parsed = parse_args(["--epochs", "2"])
    before = dict(vars(parsed))
    cfg = train_config(parsed)
    assert vars(parsed) == before and parsed.lr is None  # the recipe's values went into the config only
    assert (cfg.epochs, cfg.batch_size, cfg.betas) == (2, 6, (0.9, 0.95))
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 1.0


def test_scaling_defaults_to_rows_and_the_older_compat_flag_names_the_same_choice():
    from bench.errors import BenchError

    assert parse_and_resolve().scaling == "rows"  # the default since 2026-12-07 (results/instructed-scaling)
    assert parse_and_resolve("--scaling", "columns").scaling == "columns"
    assert parse_and_resolve("--compat", "strict").scaling == "columns"  # as commands before 2026-12-07 spell it
    assert parse_and_resolve("--compat", "paper", "--scaling", "rows").scaling == "rows"
    with pytest.raises(BenchError, match="--compat paper trains scaling=rows, but --scaling columns was given"):
        parse_and_resolve("--compat", "paper", "--scaling", "columns")


def test_out_of_range_optimiser_flags_are_refused():
    from bench.errors import BenchError

    with pytest.raises(BenchError, match="--batch-size >= 1"):
        parse_and_resolve("--batch-size", "0")


def test_a_resume_with_other_records_is_refused(tmp_path):
    from bench.data.overlap import Exclusion
    from bench.errors import BenchError
    from editors.instructed.train import check_same_records

    now = Exclusion(["counterfact"], 10, 90, 0)
    check_same_records(tmp_path, {"records_kept": 90}, now)
    check_same_records(tmp_path, {}, now)  # a checkpoint without the record: nothing to compare
    with pytest.raises(BenchError, match="trained on 91 records, and this code's overlap filter keeps 90"):
        check_same_records(tmp_path, {"records_kept": 91}, now)
