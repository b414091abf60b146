import random
import re
from dataclasses import replace
from functools import partial

import pytest
import torch
from conftest import make_case

from bench import protocols
from bench.data.schema import FLUENCY, LOC, Query
from bench.editor import Capabilities, Editor, PreparedRequests, Request
from bench.errors import BenchError
from bench.metrics import locality_agreement
from bench.models import load_model
from bench.protocols import (
    Baseline,
    ProtocolConfig,
    RestoreError,
    _add_paper_locality,
    evaluate,
    run_protocol,
)
from bench.restore import WeightRestorer, fingerprint, parameter_hash
from bench.scoring import Prepared, Scorer, TokenScore
from bench.tiny import _CORPUS
from editors.ft import FTM, FTMConfig
from editors.grace import GRACE, Codebook, GRACEConfig
from editors.noedit import NoEdit


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
    base = Baseline(Scorer(editor.model, editor.tokenizer))
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
    with pytest.raises(RestoreError, match=r"after reset\(\) following case\(s\) c1.*parameters differ"):
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


def test_locality_is_against_the_unedited_model_in_the_units_composition(tiny_lm):
    editor, case = BumpEditor(tiny_lm), make_case()
    unedited = Scorer(tiny_lm.model, tiny_lm.tokenizer).score([Prepared(q.prompt, q.answer) for q in case.queries])
    ((_, rows),) = _run(editor, [case], ProtocolConfig("single"))
    loc = [(r, unedited[r["qi"]]) for r in rows if r["kind"] == "loc"]
    assert len(loc) == 2 and all(r["loc"] == locality_agreement(r["pred_ids"], u.pred_ids) for r, u in loc)


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

    def prepare(self, requests):
        return PreparedRequests([Prepared(r.text if "Lita" in r.text else "Note: " + r.text, r.query.answer)
                                 for r in requests])


def _loc_rows(case, fields):
    requests = [Request(case, q) for q in case.queries]
    rows = [{"kind": q.kind, "acc": 0.0} for q in case.queries]
    for i, values in fields.items():
        rows[i].update(values)
    return requests, rows


class FieldEditor(NoEdit):
    """Adds its own field to every row (PreparedRequests.row_fields)."""

    field = "routed_to"

    def prepare(self, requests):
        plain = super().prepare(requests)
        return PreparedRequests(plain.items, row_fields=[{self.field: r.case.case_id} for r in requests])


def test_an_editors_row_fields_are_written_but_never_over_the_harnesss(tiny_llama, cases):
    editor = FieldEditor(tiny_llama)
    rows = evaluate(editor, cases[:2], Baseline(editor.scorer), ProtocolConfig())
    assert [r["routed_to"] for r in rows] == ["c1"] * 5 + ["c2"] * 5
    # with generated answers and side effects: on every scored query's row (generated-only rows keep it), not on
    # the fluency rows, which the harness generates apart from prepare()
    probed = replace(cases[0], queries=[*cases[0].queries, Query(FLUENCY, "Spike Hughes is", "")])
    rows = evaluate(editor, [probed], Baseline(editor.scorer), ProtocolConfig(scoring="gen", side_effects=True))
    scored, (fluency,) = [r for r in rows if r["kind"] != FLUENCY], [r for r in rows if r["kind"] == FLUENCY]
    assert [r["routed_to"] for r in scored] == ["c1"] * 5 and "generated" in scored[0] and "acc" not in scored[0]
    assert "routed_to" not in fluency and "entropy" in fluency
    editor.field = "acc"
    with pytest.raises(BenchError, match="editor 'noedit': prepare\\(\\) gave row field\\(s\\) acc, which the harness"):
        evaluate(editor, cases[:1], Baseline(editor.scorer), ProtocolConfig())


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
    prepared = []  # the requests of each prepare() call: scoring only, no second pass for e0
    original = editor.prepare
    monkeypatch.setattr(editor, "prepare", lambda requests: prepared.append(len(requests)) or original(requests))
    rows = [r for _, rs in _run(editor, cases, ProtocolConfig("single")) for r in rs]
    assert prepared == [len(case.queries) for case in cases]
    loc = [r for r in rows if r["kind"] == "loc"]
    assert len(loc) == 6 and any(r["loc"] < 1.0 for r in loc)  # the edit moved some locality predictions
    assert all(r["loc_e0"] == r["loc"] and r["loc_paper"] == max(r["loc"], r["acc"]) for r in loc)
    assert all("loc_e0" not in r for r in rows if r["kind"] != "loc")


# -- the restore check: one unedited fingerprint per run, every editor, more than parameter bits ---------------------

class ForgetfulGRACE(GRACE):
    """GRACE whose reset() forgets to remove its forward hook (the leak that once went unnoticed)."""

    def reset(self):
        self.leaked, self._handle = self._handle, None
        self.codebook = Codebook(self.config.eps)

    def undo(self):
        self.leaked.remove()


class TrainableHead(BumpEditor):
    """Restores the head's bits but leaves it requiring grad."""

    def reset(self):
        super().reset()
        dict(self.model.named_parameters())[self._head()].requires_grad_(True)

    def undo(self):
        dict(self.model.named_parameters())[self._head()].requires_grad_(False)


class RotaryLeak(NoEdit):
    """A memory editor that scales the rotary frequencies (a non-persistent buffer) and never puts them back."""

    def edit(self, cases):
        dict(self.model.named_buffers())["model.rotary_emb.inv_freq"].mul_(2)

    def undo(self):
        dict(self.model.named_buffers())["model.rotary_emb.inv_freq"].div_(2)


class ScalingLeak(NoEdit):
    """An attention re-weighting editor that multiplies one layer's `scaling` and never puts it back."""

    def edit(self, cases):
        self.model.model.layers[0].self_attn.scaling *= 4

    def undo(self):
        self.model.model.layers[0].self_attn.scaling /= 4


class PatchedForward(NoEdit):
    """An editor that monkeypatches an MLP's forward and leaves the patch in place."""

    def edit(self, cases):
        mlp = self.model.model.layers[1].mlp
        original = type(mlp).forward.__get__(mlp)
        mlp.forward = lambda x: original(x) * 1.0

    def undo(self):
        del self.model.model.layers[1].mlp.forward


class DeclaredCounter(NoEdit):
    """Keeps a count of its edits on a module, which the forward pass never reads, and declares it."""

    runtime_attributes = ("model.layers.*.mlp.edits_seen",)

    def edit(self, cases):
        mlp = self.model.model.layers[1].mlp
        mlp.edits_seen = getattr(mlp, "edits_seen", 0) + len(cases)

    def undo(self):
        del self.model.model.layers[1].mlp.edits_seen


class CancellingWords(BumpEditor):
    """Restores all but a +1/-2/+1 change of three adjacent words (which summing digests cannot see)."""

    BUMP = torch.tensor([1, -2, 1], dtype=torch.int32)

    def reset(self):
        super().reset()
        self._words()[:] += self.BUMP

    def undo(self):
        self._words()[:] -= self.BUMP

    def _words(self):
        return dict(self.model.named_parameters())[self._head()].detach().view(-1).view(torch.int32)[5:8]


@pytest.mark.parametrize(("make", "seen"), [
    (lambda lm: ForgetfulGRACE(lm, GRACEConfig(n_iter=1)), "model.layers.3.mlp.down_proj._forward_hooks"),
    (TrainableHead, "requires_grad changed on lm_head.weight"),
    (RotaryLeak, "buffers differ"),
    (CancellingWords, "parameters differ"),
    (ScalingLeak, "model.layers.0.self_attn.scaling was 0.25, is 1.0"),
    (PatchedForward, "model.layers.1.mlp.forward added (function@"),
    (lambda lm: type("Undeclared", (DeclaredCounter,), {"runtime_attributes": ()})(lm),
     "model.layers.1.mlp.edits_seen added (1)"),
])
def test_every_editor_is_checked_after_reset(tiny_llama, cases, monkeypatch, make, seen):
    monkeypatch.setattr(protocols, "fingerprint", partial(fingerprint, host_bytes=False))  # the accelerator path
    editor = make(tiny_llama)
    try:
        with pytest.raises(RestoreError, match=r"after reset\(\) following case\(s\) c1,.*" + re.escape(seen)):
            _run(editor, cases, ProtocolConfig("single"))
    finally:
        editor.undo()
    assert not protocols.fingerprint(tiny_llama.model).differences(_baseline(tiny_llama).reference)


def _baseline(lm) -> Baseline:
    return Baseline(Scorer(lm.model, lm.tokenizer))


def test_clean_editors_pass_under_one_shared_reference(tiny_llama, cases):
    baseline = _baseline(tiny_llama)
    for editor in (NoEdit(tiny_llama), BumpEditor(tiny_llama), GRACE(tiny_llama, GRACEConfig(n_iter=1))):
        for cfg in (ProtocolConfig("single"), ProtocolConfig("sequential", eval_every=2)):
            assert len(list(run_protocol(editor, cases, baseline, cfg, set()))) > 0
    assert fingerprint(tiny_llama.model) == baseline.reference


def test_declared_runtime_attributes_are_left_alone(tiny_llama, cases):
    editor = DeclaredCounter(tiny_llama)
    try:
        assert len(list(run_protocol(editor, cases, _baseline(tiny_llama), ProtocolConfig("single"), set()))) > 0
        assert tiny_llama.model.model.layers[1].mlp.edits_seen == len(cases)
    finally:
        editor.undo()


def test_a_leak_is_caught_when_the_next_editor_starts_not_absorbed(tiny_llama, cases):
    baseline = _baseline(tiny_llama)  # the run's reference, taken once before any editor
    list(run_protocol(NoEdit(tiny_llama), cases, baseline, ProtocolConfig("single"), set()))
    leftover = tiny_llama.model.model.layers[0].mlp.register_forward_hook(lambda *a: None)  # e.g. from teardown
    try:
        with pytest.raises(RestoreError, match="before its first edit.*layers.0.mlp._forward_hooks"):
            list(run_protocol(NoEdit(tiny_llama), cases, baseline, ProtocolConfig("single"), set()))
    finally:
        leftover.remove()


# -- the locality reference: the unit's own batch composition ---------------------------------------------------------

def test_the_reference_is_scored_once_per_composition_and_shared(tiny_llama, cases, monkeypatch):
    baseline, asked = _baseline(tiny_llama), []
    score = baseline.scorer.score
    monkeypatch.setattr(baseline.scorer, "score", lambda items, *a, **k: asked.append(len(items)) or score(items, *a))
    for editor in (NoEdit(tiny_llama), BumpEditor(tiny_llama)):
        list(run_protocol(editor, cases, baseline, ProtocolConfig("single"), set()))
    assert asked == [5, 5, 5]  # one call per unit, all five queries of its case; the second editor reuses them


def test_a_weight_editor_needs_its_reference_before_the_edit(tiny_llama):
    editor, case = BumpEditor(tiny_llama), make_case()
    editor.edit([case])
    try:
        with pytest.raises(BenchError, match="no unedited locality reference"):
            evaluate(editor, [case], _baseline(tiny_llama), ProtocolConfig("single"))
    finally:
        editor.reset()


def _near_tied_bfloat16_llama():
    """tiny-llama in bfloat16 with nearly equal head rows: logits tie at bfloat16 resolution, so the last-bit
    differences between batch shapes flip argmaxes (a LOC-only batch vs the unit's own batch: 6 of 24 rows here)."""
    lm = load_model("tiny-llama", "cpu", "bfloat16")
    head = lm.model.get_output_embeddings().weight
    with torch.no_grad():
        head.copy_(head[:1] + 1e-3 * head)
    return lm


def _varied_locality_cases(n: int = 6, k: int = 4) -> list:
    rng, words = random.Random(0), _CORPUS.split()
    out = []
    for c in range(n):
        case = make_case(f"c{c}")
        case.queries = [q for q in case.queries if q.kind != LOC]
        for _ in range(k):
            a = rng.randint(2, 12)
            i = rng.randint(0, len(words) - a - 3)
            case.queries.append(Query(LOC, " ".join(words[i:i + a]), " ".join(words[i + a:i + a + 3])))
        out.append(case)
    return out


def test_an_editor_that_changes_nothing_keeps_full_locality_in_bfloat16():
    lm, cases = _near_tied_bfloat16_llama(), _varied_locality_cases()
    baseline = Baseline(Scorer(lm.model, lm.tokenizer))  # the runner's call
    grace_off = GRACE(lm, GRACEConfig(eps=0.0, n_iter=1))  # radius 0: only the edit prompt itself is deferred
    runs = [(NoEdit(lm), ProtocolConfig("single")), (NoEdit(lm), ProtocolConfig("batch", batch_size=4)),
            (NoEdit(lm), ProtocolConfig("sequential", eval_every=4)), (grace_off, ProtocolConfig("single")),
            (grace_off, ProtocolConfig("sequential", eval_every=4))]
    for editor, cfg in runs:
        loc = [r["loc"] for _, rows in run_protocol(editor, cases, baseline, cfg, set()) for r in rows
               if r["kind"] == LOC]
        assert loc and all(x == 1.0 for x in loc), (editor.name, cfg.name)
