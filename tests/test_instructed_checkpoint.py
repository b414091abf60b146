"""Checkpoints: safetensors round trip, discovery, mismatch errors, refusal of trained-on cases."""

from __future__ import annotations

import pytest
import torch

from bench import checkpoints
from bench.editor import Request
from bench.errors import BenchError
from editors.instructed import InstructEd, InstructEdConfig
from editors.instructed import checkpoint as ckpt
from editors.instructed.prefix import PrefixBank, expected_shapes
from editors.instructed.testing import fixture_cases, make_checkpoint, resources, tiny_lm


@pytest.fixture(scope="module", params=["tiny-llama", "tiny-gpt2"])
def lm(request):
    return tiny_lm(request.param)


@pytest.mark.parametrize("variant", ["attn", "ffn"])
def test_round_trip_is_exact(lm, tmp_path, variant):
    bank = make_checkpoint(lm, tmp_path, [1, 2], n_prefix=4, variant=variant, trained_on=fixture_cases()[:1])
    tensors, info, trained = ckpt.load(tmp_path)
    assert set(tensors) == set(expected_shapes([1, 2], info.hidden_size, 4, variant))
    assert all(torch.equal(tensors[k], v) for k, v in bank.state_dict().items())
    assert (info.layers, info.n_prefix, info.variant, info.model) == ([1, 2], 4, variant, lm.name)
    assert trained.case_ids == {"fixture-cf": ["1"]} and len(trained.fingerprints) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "prefix.safetensors", "trained_cases.json"]
    ed = InstructEd(lm, InstructEdConfig(checkpoint=str(tmp_path), n_prefix=4, variant=variant), resources())
    assert all(torch.equal(a, b) for a, b in zip(ed.bank.state_dict().values(), bank.state_dict().values()))
    assert ed.config.layers == [1, 2]


@pytest.fixture
def root(tmp_path, monkeypatch):
    """A checkpoint root of the test's own, by $BENCH_CHECKPOINT_DIR; the InstructEd folder within it."""
    monkeypatch.setenv("BENCH_CHECKPOINT_DIR", str(tmp_path))
    return tmp_path / "instructed"


def test_discovery_finds_the_default_folder_and_explains_how_to_train(lm, root):
    with pytest.raises(BenchError) as err:
        InstructEd(lm, InstructEdConfig(), resources())
    message = str(err.value)
    assert f"python -m bench train instructed --model {lm.name}" in message
    assert "instructed:checkpoint=PATH" in message and f"looked in {root / lm.name};" in message
    assert f"the checkpoint root is {root.parent}, from $BENCH_CHECKPOINT_DIR" in message
    assert "\n" not in message
    default = InstructEd(lm, InstructEdConfig(prefix=False), resources()).default_layers
    make_checkpoint(lm, root / lm.name, default)
    assert InstructEd(lm, InstructEdConfig(), resources()).config.checkpoint == str(root / lm.name)
    with pytest.raises(BenchError, match="--variant ffn"):  # ablations live in their own tagged folder
        InstructEd(lm, InstructEdConfig(variant="ffn"), resources())


def test_discovery_says_when_a_folder_keeps_a_checkpoint_s_config_but_not_its_weights(lm, root):
    """Table 4's FFN adapter ships its config.json and loss curve but not its 3.3 MB of weights: the error points at
    the folder's notes instead of only at a training command that would not make Table 4's one-epoch checkpoint."""
    default = InstructEd(lm, InstructEdConfig(prefix=False), resources()).default_layers
    make_checkpoint(lm, root / lm.name / "ffn", default, variant="ffn")
    assert InstructEd(lm, InstructEdConfig(variant="ffn"), resources()).config.checkpoint == str(root / lm.name / "ffn")
    (root / lm.name / "ffn" / "prefix.safetensors").unlink()
    with pytest.raises(BenchError) as err:
        InstructEd(lm, InstructEdConfig(variant="ffn"), resources())
    assert str(err.value).startswith(f"{root / lm.name / 'ffn'} keeps a checkpoint's config.json without its weights")
    assert "ABLATIONS.md" in str(err.value) and "--variant ffn" in str(err.value)


def test_the_default_folder_serves_either_compat_and_its_own_scaling(lm, root):
    """Folders are tagged by what was trained, never by how it is evaluated: compat=paper (the authors' evaluation)
    takes the default checkpoint too, and a checkpoint is evaluated with the scaling it trained (a columns one
    from before 2026-12-07 stays columns)."""
    default = InstructEd(lm, InstructEdConfig(prefix=False), resources()).default_layers
    make_checkpoint(lm, root / lm.name, default, scaling="columns")
    for compat in ("strict", "paper"):
        ed = InstructEd(lm, InstructEdConfig(compat=compat), resources())
        assert ed.config.checkpoint == str(root / lm.name) and ed.config.scaling == "columns"
    make_checkpoint(lm, root / lm.name / "paper", default, seed=1)  # the folder compat=paper had before: not read
    assert InstructEd(lm, InstructEdConfig(compat="paper"), resources()).config.checkpoint == str(root / lm.name)
    with pytest.raises(BenchError, match="--variant ffn"):  # only a named scaling falls back to the settings' own
        InstructEd(lm, InstructEdConfig(compat="paper", variant="ffn"), resources())


def test_a_named_scaling_finds_its_folder_else_forces_the_default(lm, root):
    """instructed-columns beside a rows default: the `columns/` folder when there is one; without it the default
    checkpoint, evaluated with columns and a warning (what scaling=columns always did)."""
    default = InstructEd(lm, InstructEdConfig(prefix=False), resources()).default_layers
    with pytest.raises(BenchError, match=f"--model {lm.name} --scaling columns  "):
        InstructEd(lm, InstructEdConfig(scaling="columns"), resources())
    make_checkpoint(lm, root / lm.name, default)  # rows, the default
    with pytest.warns(UserWarning, match="trained with scaling=rows; evaluating with scaling=columns"):
        forced = InstructEd(lm, InstructEdConfig(scaling="columns"), resources())
    assert forced.config.checkpoint == str(root / lm.name)
    make_checkpoint(lm, root / lm.name / "columns", default, seed=1, scaling="columns")
    assert InstructEd(lm, InstructEdConfig(scaling="columns"), resources()).config.checkpoint == str(
        root / lm.name / "columns")
    assert InstructEd(lm, InstructEdConfig(scaling="rows"), resources()).config.checkpoint == str(root / lm.name)
    assert InstructEd(lm, InstructEdConfig(), resources()).config.checkpoint == str(root / lm.name)


def test_the_checkpoint_root_is_read_when_used(tmp_path, monkeypatch):
    monkeypatch.delenv("BENCH_CHECKPOINT_DIR", raising=False)
    checkout = checkpoints.SOURCE_ROOT / "results" / "checkpoints" / "instructed" / "smollm2-135m"
    assert ckpt.default_dir("smollm2-135m") == checkout  # from the checkout: the committed folder, as before
    assert ckpt.default_dir("org/m", "ffn") == ckpt.CHECKPOINT_ROOT / "org--m" / "ffn"
    assert ckpt.CHECKPOINT_ROOT.relative_to(ckpt.REPO_ROOT).as_posix() == "results/checkpoints/instructed"
    for name in ("a", "b"):  # no import-time copy: each call reads the variable
        monkeypatch.setenv("BENCH_CHECKPOINT_DIR", str(tmp_path / name))
        assert ckpt.default_dir("m") == tmp_path / name / "instructed" / "m"
    monkeypatch.setenv("BENCH_CHECKPOINT_DIR", "  ")  # blank: unset
    assert checkpoints.checkpoint_root() == checkpoints.CHECKOUT_ROOT


def test_without_a_checkpoint_root_the_error_says_how_to_get_one(lm, tmp_path, monkeypatch):
    monkeypatch.delenv("BENCH_CHECKPOINT_DIR", raising=False)
    monkeypatch.setattr(checkpoints, "CHECKOUT_ROOT", tmp_path / "absent")  # as a wheel install: no checkout
    with pytest.raises(BenchError) as err:
        InstructEd(lm, InstructEdConfig(), resources())
    message = str(err.value)
    assert "$BENCH_CHECKPOINT_DIR is not set" in message and f"looked for {tmp_path / 'absent'}" in message
    assert f"BENCH_CHECKPOINT_DIR=DIR python -m bench train instructed --model {lm.name}" in message
    assert "'instructed:checkpoint=PATH'" in message and "\n" not in message
    assert InstructEd(lm, InstructEdConfig(prefix=False), resources()).bank is None  # nothing trained: no root needed


def test_late_depth_finds_its_own_folder_and_checks_an_explicit_checkpoint(lm, root):
    make_checkpoint(lm, root / lm.name, [1, 2])  # the middle-layer default must not be taken for "late"
    with pytest.raises(BenchError, match="--layers 3"):
        InstructEd(lm, InstructEdConfig(depth="late"), resources())
    make_checkpoint(lm, root / lm.name / "l3-4", [3])
    assert InstructEd(lm, InstructEdConfig(depth="late"), resources()).config.layers == [3]
    with pytest.raises(BenchError, match="layers=\\[1, 2\\].*layers=\\[3\\]"):
        InstructEd(lm, InstructEdConfig(depth="late", checkpoint=str(root / lm.name)), resources())
    with pytest.raises(BenchError, match="depth='deep' is not one of middle, late"):
        InstructEd(lm, InstructEdConfig(depth="deep"), resources())


def test_ablation_tags_and_commands():
    assert ckpt.ablation_tag([10, 11], [10, 11], 5, "attn", True) == ""
    assert ckpt.ablation_tag([20, 21, 22], [10, 11], 10, "ffn", False) == "ffn-l20-23-p10-noreweight"
    assert ckpt.ablation_tag([10, 11], [10, 11], 5, "attn", True, "rows") == ""  # the default scaling
    assert ckpt.ablation_tag([10, 11], [10, 11], 5, "attn", False, "columns") == "noreweight-columns"
    columns = ckpt.train_command("m", [1], [1], 5, "attn", True, "columns")
    assert columns == "python -m bench train instructed --model m --scaling columns"
    command = ckpt.train_command("m", [3, 5], [1], 5, "attn", True)
    assert command == "python -m bench train instructed --model m --layers 3,5"
    assert ckpt.model_dir_name("org/model") == "org--model"


def test_mismatches_are_errors(lm, tmp_path):
    make_checkpoint(lm, tmp_path, [1, 2])
    with pytest.raises(BenchError, match="n_prefix=5"):
        InstructEd(lm, InstructEdConfig(checkpoint=str(tmp_path), n_prefix=4), resources())
    with pytest.raises(BenchError, match="layers"):
        InstructEd(lm, InstructEdConfig(checkpoint=str(tmp_path), layers=[0, 1]), resources())
    other = tiny_lm("tiny-gpt2" if lm.name == "tiny-llama" else "tiny-llama")
    with pytest.raises(BenchError, match="trained for model"):
        InstructEd(other, InstructEdConfig(checkpoint=str(tmp_path)), resources())
    with pytest.raises(BenchError, match="not an InstructEd checkpoint"):
        InstructEd(lm, InstructEdConfig(checkpoint=str(tmp_path / "nowhere")), resources())


def test_cases_the_checkpoint_was_trained_on_are_refused(lm, tmp_path):
    cases = fixture_cases()
    make_checkpoint(lm, tmp_path, [1], trained_on=cases[:2])
    ed = InstructEd(lm, InstructEdConfig(checkpoint=str(tmp_path)), resources())
    refused = r"trained on 1 of these cases or on prompts they show the model \(fixture-cf:2 \(trained"
    with pytest.raises(BenchError, match=refused):
        ed.edit([cases[2], cases[1]])
    assert [c for c in cases if not ed._seen(c)] == [cases[2]]
    ed.edit([cases[2]])
    assert len(ed.score([Request(cases[2], q) for q in cases[2].queries])) == 3


def test_prefix_off_needs_no_checkpoint(lm, root):
    ed = InstructEd(lm, InstructEdConfig(prefix=False), resources())
    assert ed.bank is None and ed.config.layers == ed.default_layers


def test_checkpoint_size_of_a_7b_llama_matches_the_paper():
    shapes = expected_shapes(list(range(10, 20)), 4096, 5, "attn")
    size = sum(4 * a * b for a, b in shapes.values())
    assert size == 819_200  # 0.8 MB, as the paper reports
    bank = PrefixBank(list(range(10, 20)), 4096, 5)
    assert bank.num_bytes() == size


def test_the_resolved_config_names_the_checkpoint_the_editor_loads(lm, root):
    """config.json records the discovered checkpoint and its layers; a resume of that run (same arguments)
    compares them with what the editor will load, not with the unset '' and [] it was given."""
    from bench.lifecycle import resolved_config
    from bench.resume import check_editor_resume

    default = InstructEd(lm, InstructEdConfig(prefix=False), resources()).default_layers
    make_checkpoint(lm, root / lm.name, default)
    ran = resolved_config("instructed", InstructEd(lm, InstructEdConfig(), resources()).config)
    resolved = resolved_config("instructed", InstructEdConfig().resolved(lm, 0, InstructEd))
    assert resolved == ran and resolved["checkpoint"] == str(root / lm.name) and resolved["layers"] == default
    check_editor_resume(root / "config.json", "instructed", {"config": ran}, resolved)  # no refusal
    with pytest.raises(BenchError, match="configures it differently"):  # another checkpoint still is one
        check_editor_resume(root / "config.json", "instructed", {"config": {**ran, "checkpoint": "/elsewhere"}},
                            resolved)
    untrained = InstructEdConfig(prefix=False).resolved(lm, 0, InstructEd)
    assert untrained.layers == default and untrained.checkpoint == ""
    assert InstructEdConfig().layers == []  # resolving copies: the given config is left as it was


def _with_exclusion(directory, exclusion):
    import json

    info = json.loads((directory / "config.json").read_text())
    (directory / "config.json").write_text(json.dumps({**info, "exclusion": exclusion}))


def test_a_subfolder_trained_on_the_same_records_shares_the_trained_cases(lm, tmp_path):
    make_checkpoint(lm, tmp_path, [1, 2], trained_on=fixture_cases()[:1])
    sub = tmp_path / "control"
    make_checkpoint(lm, sub, [1, 2], trained_on=fixture_cases()[:1], seed=1)
    (sub / "trained_cases.json").unlink()
    _with_exclusion(tmp_path, {"records_kept": 3})
    _with_exclusion(sub, {"records_kept": 3})
    assert ckpt.load(sub)[2].case_ids == ckpt.load(tmp_path)[2].case_ids == {"fixture-cf": ["1"]}
    _with_exclusion(sub, {"records_kept": 2})  # other records: it must have its own
    with pytest.raises(BenchError, match="trained_cases.json is missing"):
        ckpt.load(sub)


def test_losses_are_read_from_a_gzipped_curve(tmp_path):
    import gzip

    from editors.instructed.plot import read_losses, write_losses

    write_losses(tmp_path, [{"step": 1, "epoch": 1, "lr": 0.1, "loss": 2.5, "edit_loss": 2.0, "loc_loss": 3.0}])
    plain = read_losses(tmp_path)
    with (tmp_path / "loss.csv").open("rb") as src, gzip.open(tmp_path / "loss.csv.gz", "wb") as dst:
        dst.write(src.read())
    (tmp_path / "loss.csv").unlink()
    assert read_losses(tmp_path) == plain and plain[0]["loss"] == 2.5


def test_a_checkpoint_names_its_scaling_and_old_ones_imply_it_by_compat(lm, tmp_path):
    import json

    make_checkpoint(lm, tmp_path / "rows", [1])
    written = json.loads((tmp_path / "rows" / ckpt.INFO).read_text())
    assert (written["scaling"], written["compat"]) == ("rows", "paper")  # compat: what readers before 2026-12-06 read
    make_checkpoint(lm, tmp_path / "old", [1], scaling="columns")
    info = json.loads((tmp_path / "old" / ckpt.INFO).read_text())
    del info["scaling"]  # written before 2026-12-06
    (tmp_path / "old" / ckpt.INFO).write_text(json.dumps(info))
    assert ckpt.read_info(tmp_path / "old").scaling == "columns"
    info["compat"] = "paper"
    (tmp_path / "old" / ckpt.INFO).write_text(json.dumps(info))
    assert ckpt.read_info(tmp_path / "old").scaling == "rows"


def test_scaling_follows_the_checkpoint_whatever_the_compat(lm, tmp_path):
    """A rows checkpoint evaluated under the paper's text (compat=strict) keeps its rows: the rows-vs-columns
    comparison then differs in the trained mechanism alone. An explicit scaling still wins, with a warning."""
    from editors.instructed.attention import forward_context

    bank = make_checkpoint(lm, tmp_path, [1])
    case = fixture_cases()[0]
    ed = InstructEd(lm, InstructEdConfig(checkpoint=str(tmp_path)), resources())
    assert ed.config.scaling == "rows" and ed.config.compat == "strict"
    ed.edit([case])
    assert InstructEdConfig(checkpoint=str(tmp_path)).resolved(lm, 0, InstructEd).scaling == "rows"
    request = Request(case, case.queries[0])
    prepared = ed.prepare([request]).items
    batch = ed.scorer.collate([ed.scorer.encode(prepared[0])])
    got = ed.scorer.logits(batch, ed.forward_context)
    bank = bank.to(lm.device).requires_grad_(False)
    rows = ed.scorer.logits(batch, forward_context(lm.model, bank, True, True))
    columns = ed.scorer.logits(batch, forward_context(lm.model, bank, True, False))
    assert torch.equal(got, rows) and not torch.equal(rows, columns)
    with pytest.warns(UserWarning, match="trained with scaling=rows; evaluating with scaling=columns"):
        forced = InstructEd(lm, InstructEdConfig(checkpoint=str(tmp_path), scaling="columns"), resources())
    forced.edit([case])
    assert torch.equal(forced.scorer.logits(batch, forced.forward_context), columns)


def test_runs_recorded_before_scaling_read_as_their_compat():
    assert InstructEdConfig().unrecorded({"compat": "paper"})["scaling"] == "rows"
    assert InstructEdConfig().unrecorded({"compat": "strict"})["scaling"] == "columns"
    assert "scaling" not in InstructEdConfig().unrecorded({"compat": "strict", "scaling": "rows"})
    assert InstructEdConfig(prefix=False, compat="paper").settled("single", None)["scaling"] == "rows"
    assert InstructEdConfig(prefix=False).settled("single", None)["scaling"] == "rows"  # no checkpoint: the default
