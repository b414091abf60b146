"""Editing protocols: single (edit, score, reset), batch (N cases at once) and sequential.

Each protocol yields finished *units* — (key, rows) — that the runner appends
to cases.jsonl. A unit already on disk is skipped on --resume; the sequential
protocol still replays its edit, because later edits build on it, unless the
editor's state after the last evaluation was saved (bench/sequential_state.py).
Locality is always measured against the unedited model's predictions,
computed once up front (`base_locality`); each LOC row also carries the paper's
definition (`loc_e0`, `loc_paper`, see `_add_paper_locality`).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bench import sequential_state
from bench.data.schema import LOC, NHOP, EditCase
from bench.errors import BenchError
from bench.metrics import exact_match, locality_agreement
from bench.scoring import Prepared, Scorer
from editors.base import Editor, Request
from editors.restore import parameter_hash

Unit = tuple[str, list[dict]]


@dataclass(frozen=True)
class ProtocolConfig:
    name: str = "single"  # single | batch | sequential
    batch_size: int = 1
    eval_every: int = 0  # sequential: evaluate all edited cases every K edits (0 = only at the end)
    seed: int = 0
    generation_prefix: str = ""  # few-shot framing for MQuAKE generation ("Q: ... A: ..." lines)
    max_new_tokens: int = 16
    state_dir: Path | None = None  # sequential: where the editor's state is saved after each evaluation


class RestoreError(BenchError):
    """reset() did not restore the parameters bitwise: results after this point would be wrong."""


def base_locality(scorer: Scorer, cases: list[EditCase]) -> dict[tuple[str, int], list[int]]:
    """Unedited model's teacher-forced argmax on every locality query, keyed (case_id, query index)."""
    keys, items = [], []
    for case in cases:
        for qi, q in enumerate(case.queries):
            if q.kind == LOC:
                keys.append((case.case_id, qi))
                items.append(Prepared(q.prompt, q.answer))
    return {k: s.pred_ids for k, s in zip(keys, scorer.score(items, progress="unedited locality"))}


def evaluate(editor: Editor, cases: list[EditCase], base_loc: dict, cfg: ProtocolConfig) -> list[dict]:
    """Score every selected query of `cases` through the editor; one row per query."""
    requests, index = [], []
    for case in cases:
        for q in editor.select_queries(case):
            requests.append(Request(case, q))
            index.append(case.queries.index(q))
    scores = editor.score(requests) if requests else []
    fired = getattr(editor, "last_fired", None)
    rows = []
    for i, (req, qi, s) in enumerate(zip(requests, index, scores)):
        row = {"case_id": req.case.case_id, "kind": req.query.kind, "qi": qi, "prompt": req.query.prompt,
               "answer": req.query.answer, "acc": s.accuracy, "n_tokens": len(s.target_ids),
               "logprob": round(s.logprob, 6), "pred_ids": s.pred_ids}
        if req.query.kind == LOC:
            row["loc"] = locality_agreement(s.pred_ids, base_loc[(req.case.case_id, qi)])
        if fired is not None and len(fired) == len(requests):
            row["fired"] = bool(fired[i])
        rows.append(row)
    _add_generation(editor, requests, rows, cfg)
    _add_paper_locality(editor, requests, rows)
    return rows


def _add_paper_locality(editor: Editor, requests: list[Request], rows: list[dict]) -> None:
    """The paper's locality on every LOC row, next to the strict `loc` (e1) and the gold agreement `acc` (e2).

    `loc_e0`: agreement of the post-edit prediction with the unedited model's prediction on the prompt the editor
    saw (its instruction, demonstrations or retrieved fact included); `loc_paper` = max(e0, e1, e2). For weight
    editors, and wherever an editor added no text, that prompt is the plain one and e0 = e1 (nothing is scored).
    Otherwise the unedited model is the editor's own scorer without its forward context: editors that do not
    change weights leave the model untouched. Called after `score` (and generation), whose `last_fired` it may
    overwrite through `prepare`."""
    picked = [i for i, r in enumerate(requests) if r.query.kind == LOC]
    if not picked:
        return
    e0 = {i: rows[i]["loc"] for i in picked}
    if not editor.capabilities.changes_weights:
        prompts = editor.prepared_prompts([requests[i] for i in picked])
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


class _RestoreCheck:
    """Parameter hash taken before any edit; compared after every reset() of a weight editor."""

    def __init__(self, editor: Editor):
        self.editor = editor
        self.enabled = editor.capabilities.changes_weights
        self.reference = parameter_hash(editor.model) if self.enabled else None

    def verify(self, where: str) -> None:
        if self.enabled and parameter_hash(self.editor.model) != self.reference:
            raise RestoreError(
                f"editor '{self.editor.name}': reset() after {where} did not restore the model's parameters "
                "bitwise (parameter hash differs). Stopping: later cases would be scored on a corrupted model."
            )


def run_protocol(editor: Editor, cases: list[EditCase], base_loc: dict, cfg: ProtocolConfig,
                 done: set[str]) -> Iterator[Unit]:
    if cfg.name == "single":
        yield from _groups(editor, [[c] for c in cases], base_loc, cfg, done)
    elif cfg.name == "batch":
        size = max(1, cfg.batch_size)
        yield from _groups(editor, [cases[i:i + size] for i in range(0, len(cases), size)], base_loc, cfg, done)
    elif cfg.name == "sequential":
        yield from _sequential(editor, cases, base_loc, cfg, done)
    else:
        raise BenchError(f"unknown protocol '{cfg.name}'; use single, batch or sequential")


def _groups(editor, groups, base_loc, cfg, done) -> Iterator[Unit]:
    check = _RestoreCheck(editor)
    for group in groups:
        key = "cases:" + ",".join(c.case_id for c in group)
        if key in done:
            continue
        seed_everything(cfg.seed)
        editor.edit(group)
        rows = evaluate(editor, group, base_loc, cfg)
        editor.reset()
        check.verify(f"case(s) {', '.join(c.case_id for c in group[:3])}")
        for r in rows:
            r["phase"] = "after-edit"
        yield key, rows


def _sequential(editor, cases, base_loc, cfg, done) -> Iterator[Unit]:
    check = _RestoreCheck(editor)
    every = cfg.eval_every or len(cases)
    start = sequential_state.load(cfg.state_dir, editor, cases, done, every) if cfg.state_dir else 0
    for i, case in enumerate(cases[start:], start):
        seed_everything(cfg.seed + i)
        editor.edit([case])
        key = f"edit:{case.case_id}"
        if key not in done:
            rows = evaluate(editor, [case], base_loc, cfg)
            for r in rows:
                r.update(phase="after-edit", n_edits=i + 1)
            yield key, rows
        n = i + 1
        if n % every == 0 or n == len(cases):
            key = f"eval@{n}"
            if key not in done:
                rows = evaluate(editor, cases[:n], base_loc, cfg)
                for r in rows:
                    r.update(phase=f"eval@{n}", n_edits=n)
                yield key, rows
            if cfg.state_dir and n < len(cases):
                sequential_state.save(cfg.state_dir, editor, cases, n)
    editor.reset()
    check.verify(f"{len(cases)} sequential edits")
    if cfg.state_dir:
        sequential_state.remove(cfg.state_dir, editor)
