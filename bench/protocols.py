"""Editing protocols: single (edit, score, reset), batch (N cases at once) and sequential.

Each protocol yields finished *units* — (key, rows) — that the runner appends
to cases.jsonl. A unit already on disk is skipped on --resume; the sequential
protocol still replays its edit, because later edits build on it, unless the
editor's state after the last evaluation was saved (bench/sequential_state.py).
Locality is always measured against the unedited model's predictions on the
same batch composition (`Baseline`); each LOC row also carries the paper's
definition (`loc_e0`, `loc_paper`, see `_add_paper_locality`). After every
reset() the model must match the run's unedited fingerprint (`Baseline.verify`).
Where a sequential run is evaluated, and on which edited cases, is its plan's (bench/lifelong.py); each edit's
cost and each evaluation's weight-norm growth are measured by bench/stream_meters.py.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from bench import sequential_state
from bench.answers import SCORINGS, add_generated_answers, drop_teacher_forced, fluency_rows, generated_requests
from bench.data.schema import FLUENCY, LOCALITY_KINDS, NHOP, REL, EditCase
from bench.editor import Editor, PreparedRequests, Request
from bench.errors import BenchError
from bench.generation import GEN_TOKENS, SENTENCE_STOP, cut_answer, exact_match
from bench.lifelong import EvalOptions, EvalPlan, make_plan
from bench.metrics import locality_agreement
from bench.restore import Fingerprint, fingerprint
from bench.runlog import EDIT_COST, unit_key_cases, unit_key_edit
from bench.scoring import Prepared, Scorer
from bench.side_effects import NKL_TOP, PerplexityProbe, add_perplexity_drift, locality_kind, nkl
from bench.stream_meters import measure_edit, weight_growth

Unit = tuple[str, list[dict]]


@dataclass(frozen=True)
class ProtocolConfig:
    name: str = "single"  # single | batch | sequential
    batch_size: int = 1
    eval_every: int = 0  # sequential: evaluate the edited cases every K edits (0 = only at the end)
    seed: int = 0
    generation_prefix: str = ""  # few-shot framing for MQuAKE generation ("Q: ... A: ..." lines)
    max_new_tokens: int = 16
    state_dir: Path | None = None  # sequential: where the editor's state is saved after each evaluation
    evaluation: EvalOptions = EvalOptions()  # sequential: evaluation points and sampling (bench/lifelong.py)
    # What a run scores besides the teacher-forced metrics (`bench run` turns both on; RunConfig's defaults):
    scoring: str = "tf"  # tf (teacher forcing), gen (generated answers) or both (bench/answers.py)
    side_effects: bool = False  # NKL, bleed-over, perplexity drift, fluency (bench/side_effects.py)

    def __post_init__(self):
        if self.scoring not in SCORINGS:
            raise BenchError(f"--scoring {self.scoring!r}: use one of {', '.join(SCORINGS)}")

    @property
    def generates(self) -> bool:
        return self.scoring != "tf"


class RestoreError(BenchError):
    """The model is not the run's unedited one after reset(): results after this point would be wrong."""


@dataclass
class QueryReference:
    """The unedited model on one request of a unit: its argmax answer (locality kinds), its likeliest tokens at
    each answer position (the case's `locality_kind`, for NKL), whether it already gives the new target (REL:
    `known`, teacher-forced), and its generated answer (the kinds `answers.generated_requests` picks)."""

    pred_ids: list[int] | None = None
    top_ids: list[list[int]] = field(default_factory=list)
    top_logprobs: list[list[float]] = field(default_factory=list)
    known: bool | None = None
    generated: str | None = None


Reference = list[QueryReference]  # one per request of a unit, in `unit_requests` order


class Baseline:
    """The unedited model, captured once per run and shared by all its editors.

    `reference` is the restore check's fingerprint, taken before any editor exists: a leak of one editor is
    caught at its own check or when the next one starts, never absorbed into a new reference. The locality
    reference is the unedited model's answer to each request, scored per unit in the unit's own batch
    composition (all its requests in one `score` call, as `evaluate` scores them, and one `generate` call),
    because batched results depend on the batch's shape in low precision (bfloat16 argmaxes flip): only the same
    composition makes an editor that changes nothing agree exactly. Cached by composition, so editors share it.
    """

    def __init__(self, scorer: Scorer):
        self.scorer = scorer
        self.reference: Fingerprint = fingerprint(scorer.model)
        self._loc: dict[tuple, Reference] = {}
        self._perplexity: PerplexityProbe | None = None

    def verify(self, editor: Editor, where: str) -> None:
        """Raise RestoreError unless the model matches the unedited fingerprint exactly."""
        diffs = fingerprint(self.scorer.model).differences(self.reference, editor.runtime_attributes)
        if diffs:
            raise RestoreError(f"editor '{editor.name}': {where}, the model is not the run's unedited model "
                               f"({'; '.join(diffs)}). Stopping: later cases would be scored on a corrupted model.")

    def prepare(self, editor: Editor, cases: list[EditCase], cfg: ProtocolConfig) -> None:
        """Score the unit of `cases` on the unedited model; call it while the model is unedited."""
        requests = unit_requests(editor, cases)
        self._reference(self._key(editor, requests), requests, cfg)
        if cfg.side_effects:
            self.perplexity()

    def locality(self, editor: Editor, requests: list[Request], cfg: ProtocolConfig) -> Reference:
        """The unit's reference. A weight editor's must be prepared before its edit; an editor that leaves the
        weights alone (the restore check holds it to that) may have it scored now."""
        key = self._key(editor, requests)
        if key not in self._loc and editor.capabilities.changes_weights:
            raise BenchError(f"editor '{editor.name}': no unedited locality reference was prepared for this unit")
        return self._reference(key, requests, cfg)

    def perplexity(self) -> PerplexityProbe:
        """The perplexity-drift texts and the unedited model's likelihood of them, built on first use (while the
        model is unedited: `prepare` builds it before any edit)."""
        if self._perplexity is None:
            self._perplexity = PerplexityProbe.build(self.scorer)
        return self._perplexity

    def _reference(self, key: tuple, requests: list[Request], cfg: ProtocolConfig) -> Reference:
        """The reference of composition `key` (from `_key`, computed once per call: it may encode every request)."""
        if key not in self._loc:
            context = _plain_context if key[1] == "context" else None
            items = [Prepared(r.text, r.query.answer) for r in requests]
            scores = self.scorer.score(items, context, top_k=NKL_TOP if cfg.side_effects else 0)
            refs = [QueryReference() for _ in requests]
            for ref, r, s in zip(refs, requests, scores):
                if r.query.kind in LOCALITY_KINDS:
                    ref.pred_ids = s.pred_ids
                    if cfg.side_effects and r.query.kind == locality_kind(r.case):
                        ref.top_ids, ref.top_logprobs = s.top_ids, s.top_logprobs
                if r.query.kind == REL:
                    ref.known = s.accuracy == 1.0
            if cfg.generates:
                picked = generated_requests(requests)
                texts = self.scorer.generate([Prepared(requests[i].text) for i in picked], GEN_TOKENS, context,
                                             stop=SENTENCE_STOP)
                for i, text in zip(picked, texts):
                    refs[i].generated = cut_answer(text)
            self._loc[key] = refs
        return self._loc[key]

    def _key(self, editor: Editor, requests: list[Request]) -> tuple:
        """The composition: the requests in order, and whether the editor scores without a forward context when
        that matters (the scorer runs a prefix shared by a whole batch separately only without one)."""
        ids = tuple((r.case.case_id, r.case.queries.index(r.query), r.text) for r in requests)
        context = editor.active_context() is not None and self._shares_prefix(requests)
        return ids, "context" if context else "plain"

    def _shares_prefix(self, requests: list[Request]) -> bool:
        encoded = [self.scorer.encode(Prepared(r.text, r.query.answer)) for r in requests]
        return any(self.scorer.shared_prefix([encoded[i] for i in rows]) for rows in self.scorer.chunks(encoded))


def _plain_context(_batch) -> contextlib.AbstractContextManager:
    """A forward context that changes nothing: the scorer then batches as for an editor with a context."""
    return contextlib.nullcontext()


def unit_requests(editor: Editor, cases: list[EditCase]) -> list[Request]:
    """The teacher-forced requests of one unit, in the order `evaluate` scores them (fluency prompts are only
    generated from: `answers.add_fluency`)."""
    return [Request(case, q) for case in cases for q in editor.select_queries(case) if q.kind != FLUENCY]


def evaluate(editor: Editor, cases: list[EditCase], baseline: Baseline, cfg: ProtocolConfig) -> list[dict]:
    """Score every selected query of `cases` through the editor; one row per query (and per fluency prompt)."""
    requests = unit_requests(editor, cases)
    prepared = editor.prepare(requests) if requests else PreparedRequests([])
    reference = baseline.locality(editor, requests, cfg)
    gather = [ref.top_ids or None for ref in reference] if cfg.side_effects else None
    scores = editor.scorer.score(prepared.items, editor.active_context(), gather=gather)
    fired = prepared.fired
    rows = []
    for i, (req, s) in enumerate(zip(requests, scores)):
        row = {"case_id": req.case.case_id, "kind": req.query.kind, "qi": req.case.queries.index(req.query),
               "prompt": req.query.prompt, "answer": req.query.answer, "acc": s.accuracy,
               "n_tokens": len(s.target_ids), "logprob": round(s.logprob, 6), "pred_ids": s.pred_ids,
               "pred_text": editor.tokenizer.decode(s.pred_ids)}  # what the explorer shows (bench report --format html)
        if req.query.kind in LOCALITY_KINDS:
            row["loc"] = locality_agreement(s.pred_ids, reference[i].pred_ids)
            row["ref_text"] = editor.tokenizer.decode(reference[i].pred_ids)  # the unedited answer `loc` counts
        if req.query.kind == REL and (cfg.generates or cfg.side_effects):  # tf alone writes what it always wrote
            row["known"] = reference[i].known
        if reference[i].top_ids:
            row["nkl"] = round(nkl(reference[i].top_ids, reference[i].top_logprobs, s.gathered), 8)
        if fired is not None:
            row["fired"] = bool(fired[i])
        if prepared.row_fields is not None:
            _add_editor_fields(editor, row, prepared.row_fields[i])
        rows.append(row)
    _add_generation(editor, requests, rows, cfg)
    _add_paper_locality(editor, requests, rows)
    if cfg.generates:
        add_generated_answers(editor, requests, rows, reference, cfg)
    if cfg.side_effects:
        add_perplexity_drift(editor, requests, rows, baseline.perplexity())
        rows += fluency_rows(editor, cases)
    if cfg.scoring == "gen":
        drop_teacher_forced(rows)
    return rows


def _add_editor_fields(editor: Editor, row: dict, fields: dict) -> None:
    """The editor's own per-request fields (`PreparedRequests.row_fields`), never over the harness's."""
    clash = sorted(set(fields) & set(row))
    if clash:
        raise BenchError(f"editor '{editor.name}': prepare() gave row field(s) {', '.join(clash)}, which the harness "
                         "writes itself; name the editor's fields differently")
    row.update(fields)


def _add_paper_locality(editor: Editor, requests: list[Request], rows: list[dict]) -> None:
    """The paper's locality on every locality row, next to the strict `loc` (e1) and the gold agreement `acc` (e2).

    `loc_e0`: agreement of the post-edit prediction with the unedited model's prediction on the prompt the editor
    saw (its instruction, demonstrations or retrieved fact included); `loc_paper` = max(e0, e1, e2). For weight
    editors, and wherever an editor added no text, that prompt is the plain one and e0 = e1 (nothing is scored).
    Otherwise the unedited model is the editor's own scorer without its forward context: editors that do not
    change weights leave the model untouched."""
    picked = [i for i, r in enumerate(requests) if r.query.kind in LOCALITY_KINDS]
    if not picked:
        return
    e0 = {i: rows[i]["loc"] for i in picked}
    if not editor.capabilities.changes_weights:
        prompts = editor.prepare([requests[i] for i in picked]).prompts
        framed = [(i, p) for i, p in zip(picked, prompts) if p != requests[i].text]
        if framed:
            base = editor.scorer.score([Prepared(p, requests[i].query.answer) for i, p in framed])
            for (i, _), s in zip(framed, base):
                e0[i] = locality_agreement(rows[i]["pred_ids"], s.pred_ids)
    for i in picked:
        rows[i]["loc_e0"] = e0[i]
        rows[i]["loc_paper"] = max(e0[i], rows[i]["loc"], rows[i]["acc"])


def _add_generation(editor: Editor, requests: list[Request], rows: list[dict], cfg: ProtocolConfig) -> None:
    """MQuAKE's official metric: greedy generation, exact match against the new answer or an alias."""
    picked = [i for i, r in enumerate(requests) if r.query.kind == NHOP]
    if not picked:
        return
    framed = [Request(requests[i].case, requests[i].query, _frame(requests[i].query.prompt, cfg)) for i in picked]
    texts = editor.generate(framed, cfg.max_new_tokens)
    for i, text in zip(picked, texts):
        q = requests[i].query
        rows[i]["generated"] = text
        rows[i]["em"] = exact_match(text, (q.answer, *q.aliases))


def _frame(question: str, cfg: ProtocolConfig) -> str:
    prefix = cfg.generation_prefix.rstrip("\n")
    return f"{prefix}\nQ: {question} A:" if prefix else f"Q: {question} A:"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def run_protocol(editor: Editor, cases: list[EditCase], baseline: Baseline, cfg: ProtocolConfig,
                 done: set[str], store=None) -> Iterator[Unit]:
    """The units not in `done`. `store` (sequential): where saved state comes from and goes to; by default
    `cfg.state_dir` (bench/sequential_state.py), none without one."""
    verify_unedited(editor, baseline)
    if cfg.name == "sequential":
        if store is None and cfg.state_dir:
            store = sequential_state.DirectoryStore(cfg.state_dir)
        yield from _sequential(editor, cases, baseline, cfg, done, store)
    else:
        yield from run_units(editor, unit_groups(cases, cfg), baseline, cfg, done)


def verify_unedited(editor: Editor, baseline: Baseline) -> None:
    baseline.verify(editor, "before its first edit (an earlier editor's reset() or this one's construction leaked)")


def unit_groups(cases: list[EditCase], cfg: ProtocolConfig) -> list[list[EditCase]]:
    """The units of the single and batch protocols, in order: each edited alone on the unedited model."""
    if cfg.name == "single":
        return [[c] for c in cases]
    if cfg.name == "batch":
        size = max(1, cfg.batch_size)
        return [cases[i:i + size] for i in range(0, len(cases), size)]
    raise BenchError(f"protocol '{cfg.name}' has no independent units; use single or batch (sequential is one task)")


def unit_key(group: list[EditCase]) -> str:
    return unit_key_cases(c.case_id for c in group)


def run_units(editor, groups, baseline: Baseline, cfg, done) -> Iterator[Unit]:
    """Each unit starts on the unedited model (the previous one's reset() was verified): its reference first."""
    for group in groups:
        key = unit_key(group)
        if key in done:
            continue
        baseline.prepare(editor, group, cfg)
        seed_everything(cfg.seed)
        editor.edit(group)
        rows = evaluate(editor, group, baseline, cfg)
        editor.reset()
        baseline.verify(editor, f"after reset() following case(s) {', '.join(c.case_id for c in group[:3])}")
        for r in rows:
            r["phase"] = "after-edit"
        yield key, rows


def sequential_plan(n_cases: int, cfg: ProtocolConfig) -> EvalPlan:
    """Where and on which edited cases a sequential run of `n_cases` edits is evaluated (bench/lifelong.py)."""
    return make_plan(n_cases, cfg.eval_every, cfg.evaluation, cfg.seed)


def _sequential(editor, cases, baseline: Baseline, cfg, done, store) -> Iterator[Unit]:
    plan = sequential_plan(len(cases), cfg)
    _prepare_sequential(editor, cases, baseline, cfg, plan, done)
    start = store.load(editor, cases, done, plan) if store else 0
    points = set(plan.points)
    for i, case in enumerate(cases[start:], start):
        seed_everything(cfg.seed + i)
        with measure_edit(editor.lm.device) as cost:  # per-edit seconds and memory (bench/stream_meters.py)
            editor.edit([case])
        key = unit_key_edit(case.case_id)
        if key not in done:
            rows = evaluate(editor, [case], baseline, cfg)
            for r in rows:
                r.update(phase="after-edit", n_edits=i + 1)
            rows[0][EDIT_COST] = cost  # RunLog.append keeps it out of cases.jsonl (timings differ between runs)
            yield key, rows
        n = i + 1
        if n in points:
            snap = sequential_state.snapshot(editor, cases, n) if store and n < len(cases) else None
            if snap is not None:
                store.offer(snap)  # written once the point's rows are
            key = plan.key(n)
            if key not in done:
                rows = evaluate(editor, [cases[j] for j in plan.cases_at(n)], baseline, cfg)
                growth = weight_growth(editor)
                for r in rows:
                    r.update(phase=key, n_edits=n, **growth)
                yield key, rows
            if snap is not None:
                store.settle()
    editor.reset()
    baseline.verify(editor, f"after reset() following {len(cases)} sequential edits")
    if store:
        store.finish(editor)


def _prepare_sequential(editor, cases, baseline: Baseline, cfg: ProtocolConfig, plan: EvalPlan,
                        done: set[str]) -> None:
    """Every unit still to score, referenced before the first edit (or saved state) changes the model."""
    for case in cases:
        if unit_key_edit(case.case_id) not in done:
            baseline.prepare(editor, [case], cfg)
    for n in plan.points:
        if plan.key(n) not in done:
            baseline.prepare(editor, [cases[j] for j in plan.cases_at(n)], cfg)
