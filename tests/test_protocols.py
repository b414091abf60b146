import pytest
import torch
from conftest import make_case

from bench.protocols import ProtocolConfig, RestoreError, base_locality, run_protocol
from bench.scoring import Scorer
from editors.base import Capabilities, Editor
from editors.noedit import NoEdit
from editors.restore import WeightRestorer, parameter_hash


class BumpEditor(Editor):
    """A weight editor for tests: adds a constant to the LM head, counts edits, resets via WeightRestorer."""

    name = "bump"
    capabilities = Capabilities(changes_weights=True)

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.restorer = WeightRestorer(self.model)
        self.edited: list[str] = []
        self.break_reset = False

    def _head(self):
        return [n for n, _ in self.model.named_parameters()][-1]

    def edit(self, cases):
        self.restorer.save([self._head()])
        with torch.no_grad():
            dict(self.model.named_parameters())[self._head()].add_(0.5)
        self.edited += [c.case_id for c in cases]

    def reset(self):
        if not self.break_reset:
            self.restorer.restore()
        self.edited = []


def _run(editor, cases, cfg, done=()):
    base = base_locality(Scorer(editor.model, editor.tokenizer), cases)
    return list(run_protocol(editor, cases, base, cfg, set(done)))


def test_noedit_has_full_locality_and_base_scores(tiny_lm, cases):
    units = _run(NoEdit(tiny_lm), cases, ProtocolConfig("single"))
    assert [k for k, _ in units] == ["cases:c1", "cases:c2", "cases:c3"]
    rows = [r for _, rs in units for r in rs]
    assert all(r["loc"] == 1.0 for r in rows if r["kind"] == "loc")
    direct = Scorer(tiny_lm.model, tiny_lm.tokenizer).score(
        [__import__("bench.scoring", fromlist=["Prepared"]).Prepared(q.prompt, q.answer) for q in cases[0].queries])
    assert [r["acc"] for r in units[0][1]] == [s.accuracy for s in direct]


def test_single_protocol_restores_and_detects_a_broken_reset(tiny_lm, cases):
    editor = BumpEditor(tiny_lm)
    before = parameter_hash(tiny_lm.model)
    units = _run(editor, cases, ProtocolConfig("single"))
    assert len(units) == 3 and parameter_hash(tiny_lm.model) == before
    editor.break_reset = True
    with pytest.raises(RestoreError, match="did not restore"):
        _run(editor, cases, ProtocolConfig("single"))
    editor.restorer.restore()
    assert parameter_hash(tiny_lm.model) == before


def test_batch_protocol_groups_cases(tiny_lm, cases):
    editor = BumpEditor(tiny_lm)
    units = _run(editor, cases, ProtocolConfig("batch", batch_size=2))
    assert [k for k, _ in units] == ["cases:c1,c2", "cases:c3"]


def test_sequential_protocol_reports_after_edit_and_checkpoints(tiny_lm, cases):
    editor = BumpEditor(tiny_lm)
    before = parameter_hash(tiny_lm.model)
    units = _run(editor, cases, ProtocolConfig("sequential", eval_every=2))
    keys = [k for k, _ in units]
    assert keys == ["edit:c1", "edit:c2", "eval@2", "edit:c3", "eval@3"]
    final = dict(units)["eval@3"]
    assert {r["case_id"] for r in final} == {"c1", "c2", "c3"} and all(r["n_edits"] == 3 for r in final)
    assert parameter_hash(tiny_lm.model) == before


def test_sequential_resume_replays_edits_without_rescoring(tiny_lm, cases):
    editor = BumpEditor(tiny_lm)
    full = dict(_run(editor, cases, ProtocolConfig("sequential", eval_every=2)))
    editor2 = BumpEditor(tiny_lm)
    resumed = dict(_run(editor2, cases, ProtocolConfig("sequential", eval_every=2), done={"edit:c1", "edit:c2"}))
    assert list(resumed) == ["eval@2", "edit:c3", "eval@3"]
    assert [r["acc"] for r in resumed["eval@3"]] == [r["acc"] for r in full["eval@3"]]


def test_locality_is_against_the_unedited_model(tiny_lm):
    editor = BumpEditor(tiny_lm)
    case = make_case()
    base = base_locality(Scorer(tiny_lm.model, tiny_lm.tokenizer), [case])
    assert set(base) == {("c1", 2), ("c1", 3)}
    units = list(run_protocol(editor, [case], base, ProtocolConfig("single"), set()))
    assert all(0.0 <= r["loc"] <= 1.0 for r in units[0][1] if r["kind"] == "loc")
