"""A resumed sequential run loads the editor's saved state instead of replaying its edits, with the same rows."""

from __future__ import annotations

import logging

import pytest
import torch
from safetensors.torch import load_file

from bench import sequential_state
from bench.protocols import Baseline, ProtocolConfig, run_protocol, sequential_plan
from bench.registry import build_config
from bench.restore import parameter_hash
from bench.scoring import Scorer
from editors.ft import FTM
from editors.grace import GRACE
from editors.rome import ROME

FAST = {"v_num_grad_steps": "3", "contexts_per_length": "1", "mom2_adjustment": "false"}
pytestmark = pytest.mark.usefixtures("module_stats_cache")


EDITORS = {ROME: FAST, FTM: {"num_steps": "3"}, GRACE: {"n_iter": "5"}}  # the state: weights, weights, a codebook


def _counting(cls):
    class Counting(cls):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self.edited: list[str] = []

        def edit(self, cases):
            self.edited += [c.case_id for c in cases]
            super().edit(cases)

    return Counting


def _editor(lm, cls=ROME):
    return _counting(cls)(lm, build_config(cls, EDITORS[cls]))


def _units(editor, cases, cfg, done=(), stop_after=None):
    """The protocol's units; with `stop_after`, ask for one more unit then stop (a kill after it was logged)."""
    base = Baseline(Scorer(editor.model, editor.tokenizer))
    out = []
    for key, rows in run_protocol(editor, cases, base, cfg, set(done)):
        if out and out[-1][0] == stop_after:
            break
        out.append((key, rows))
    return out


@pytest.mark.parametrize("cls", list(EDITORS), ids=lambda c: c.name)
def test_resume_continues_from_the_saved_state_with_identical_rows(tiny_lm, cases, tmp_path, cls):
    cfg = ProtocolConfig("sequential", eval_every=1, state_dir=tmp_path / "states")
    digest = parameter_hash(tiny_lm.model)
    full = dict(_units(_editor(tiny_lm, cls), cases, cfg))
    assert not (tmp_path / "states").exists()  # removed once the editor finished
    killed = _editor(tiny_lm, cls)
    first = _units(killed, cases, cfg, stop_after="eval@2")
    assert [k for k, _ in first] == ["edit:c1", "eval@1", "edit:c2", "eval@2"]
    saved = load_file(str(tmp_path / "states" / f"{cls.name}.safetensors"))
    if cls is GRACE:
        assert saved["keys"].shape[0] == 2 and saved["labels"].dtype == torch.uint8  # two edits, two entries
    else:
        assert list(saved) == killed.restorer.saved_names  # the one edited weight, after two edits
    killed.reset()  # a new process starts from the unedited weights
    editor = _editor(tiny_lm, cls)
    resumed = dict(_units(editor, cases, cfg, done={k for k, _ in first}))
    assert editor.edited == ["c3"] and list(resumed) == ["edit:c3", "eval@3"]
    for key in resumed:
        assert [(r["acc"], r["logprob"]) for r in resumed[key]] == [(r["acc"], r["logprob"]) for r in full[key]]
    assert parameter_hash(tiny_lm.model) == digest and not (tmp_path / "states").exists()


def test_a_state_that_does_not_match_the_finished_units_is_replayed(tiny_lm, cases, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="bench.sequential_state")
    cfg = ProtocolConfig("sequential", eval_every=1, state_dir=tmp_path / "states")
    killed = _editor(tiny_lm)
    first = _units(killed, cases, cfg, stop_after="eval@2")
    killed.reset()
    done = {k for k, _ in first} - {"eval@2"}  # e.g. cases.jsonl lost its last lines
    editor = _editor(tiny_lm)
    resumed = dict(_units(editor, cases, cfg, done=done))
    assert editor.edited == ["c1", "c2", "c3"] and list(resumed) == ["eval@2", "edit:c3", "eval@3"]
    assert "replaying the edits" in caplog.text
    plan = sequential_plan(len(cases), cfg)
    assert sequential_state.read(tmp_path / "states", "rome", cases, done, plan) is None  # nothing left to load


def test_bench_state_dir_moves_states_out_of_the_run_folder(tmp_path, monkeypatch):
    run_a, run_b = tmp_path / "x" / "run", tmp_path / "y" / "run"
    assert sequential_state.states_dir(run_a) == run_a / "states"
    monkeypatch.setenv("BENCH_STATE_DIR", str(tmp_path / "kept"))
    a, b = sequential_state.states_dir(run_a), sequential_state.states_dir(run_b)
    assert a.parent == b.parent == tmp_path / "kept" and a.name.startswith("run-") and a != b  # same name, two runs
    assert sequential_state.states_dir(tmp_path / "x" / "." / "run") == a
