import pytest
import torch
from conftest import make_case

from bench.protocols import ProtocolConfig, RestoreError, _add_paper_locality, base_locality, run_protocol
from bench.scoring import Prepared, Scorer, TokenScore
from editors.base import Capabilities, Editor, Request
from editors.ft import FTM, FTMConfig
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


class _FixedScorer:
    """Stands in for the base model: fixed argmaxes per prompt; records what it is asked to score."""

    def __init__(self, preds: dict[str, list[int]]):
        self.preds, self.asked = preds, []

    def score(self, items, context=None, progress=None):
        assert context is None  # the plain scorer: no editor state in the forward pass
        self.asked += [p.prompt for p in items]
        return [TokenScore(self.preds[p.prompt], self.preds[p.prompt]) for p in items]


class FramingEditor(Editor):
    """A prompt editor for tests: writes a note before every prompt except Lita Ford's; changes no weights."""

    name = "framing"

    def edit(self, cases):
        pass

    def reset(self):
        pass

    def prepare(self, request):
        text = request.text if "Lita" in request.text else "Note: " + request.text
        return Prepared(text, request.query.answer)


def _loc_rows(case, fields):
    requests = [Request(case, q) for q in case.queries]
    rows = [{"kind": q.kind, "acc": 0.0} for q in case.queries]
    for i, values in fields.items():
        rows[i].update(values)
    return requests, rows


def test_paper_locality_is_the_max_of_e0_e1_e2_by_hand(tiny_llama):
    case = make_case()  # queries: rel, gen, loc "Max Mosley originates from", loc "Lita Ford was native to", por
    requests, rows = _loc_rows(case, {2: {"pred_ids": [5, 6, 7, 8], "loc": 0.25, "acc": 0.0},
                                      3: {"pred_ids": [1, 2], "loc": 0.5, "acc": 1.0}})
    editor = FramingEditor(tiny_llama)
    editor.__dict__["scorer"] = scorer = _FixedScorer({"Note: Max Mosley originates from": [5, 6, 0, 0]})
    _add_paper_locality(editor, requests, rows)
    assert scorer.asked == ["Note: Max Mosley originates from"]  # Lita Ford's prompt got no text: not scored
    assert rows[2]["loc_e0"] == 0.5 and rows[2]["loc_paper"] == 0.5  # e0 = 2/4 beats e1 = 0.25 and e2 = 0
    assert rows[3]["loc_e0"] == 0.5 and rows[3]["loc_paper"] == 1.0  # no added text: e0 = e1; e2 = 1 wins
    assert "loc_e0" not in rows[0] and "loc_paper" not in rows[4]  # only LOC rows


def test_weight_editors_get_e0_equal_to_e1_without_scoring(tiny_llama):
    case = make_case()
    requests, rows = _loc_rows(case, {2: {"pred_ids": [5], "loc": 0.25, "acc": 0.75},
                                      3: {"pred_ids": [1], "loc": 0.5, "acc": 0.0}})
    editor = BumpEditor(tiny_llama)
    editor.__dict__["scorer"] = scorer = _FixedScorer({})
    _add_paper_locality(editor, requests, rows)
    assert scorer.asked == []
    assert [(rows[i]["loc_e0"], rows[i]["loc_paper"]) for i in (2, 3)] == [(0.25, 0.75), (0.5, 0.5)]


def test_ft_m_rows_have_loc_e0_equal_to_loc(tiny_llama, cases, monkeypatch):
    editor = FTM(tiny_llama, FTMConfig(lr=1e-2))
    monkeypatch.setattr(editor, "prepared_prompts", lambda requests: pytest.fail("a weight editor was re-scored"))
    rows = [r for _, rs in _run(editor, cases, ProtocolConfig("single")) for r in rs]
    loc = [r for r in rows if r["kind"] == "loc"]
    assert len(loc) == 6 and any(r["loc"] < 1.0 for r in loc)  # the edit moved some locality predictions
    assert all(r["loc_e0"] == r["loc"] and r["loc_paper"] == max(r["loc"], r["acc"]) for r in loc)
    assert all("loc_e0" not in r for r in rows if r["kind"] != "loc")
