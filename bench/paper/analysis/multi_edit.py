"""Why does a gold instruction that states several edits lose them? Rel of a multi-edit case's rewrites under variants.

Issue 37 item 6: on four-edit MQuAKE-schema cases, InstructEd's gold-mode Rel falls far below IKE's. This scores
every rewrite prompt of every case (and optionally the multi-hop and single-hop questions) with the trained prefixes
under instruction variants, one factor at a time:

- `gold`: the case's instruction (all rewrites, in order), similarity of the whole instruction and the question
- `own-only`: only the rewrite asked about (the case split into one-edit cases)
- `own-first` / `own-last`: all rewrites, the one asked about moved first / last
- `reversed`: all rewrites in reverse order
- `no-reweight`: the gold instruction with similarity 1 (Eq. 15 off)
- `per-fact`: the gold instruction, similarity = the best of the question's similarities with each rewrite

and prints Rel by the asked rewrite's position in the gold instruction, the mean similarity and instruction length.

    python -m bench.paper.analysis.multi_edit --dataset mquake:results/instructed-heldout/mquake-heldout-multi.json
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bench.data import load_dataset
from bench.data.schema import HOP, NHOP, REL, EditCase, Query
from bench.editor import Resources
from bench.models import load_model
from bench.paper.analysis import editor_config
from bench.scoring import Prepared, Scorer
from editors.instructed.editor import InstructEd
from editors.instructed.instructions import format_prompt


@dataclass(frozen=True)
class Probe:
    """One scored question of a case: the rewrite it asks about (-1 for multi-hop and single-hop questions)."""

    case: EditCase
    query: Query
    position: int


Order = Callable[[list[str], int], list[str]]  # the case's sentences, the asked rewrite -> the sentences stated
ORDERS: dict[str, Order] = {
    "gold": lambda s, i: s,
    "own-only": lambda s, i: [s[i]] if i >= 0 else s,
    "own-first": lambda s, i: [s[i], *s[:i], *s[i + 1:]] if i >= 0 else s,
    "own-last": lambda s, i: [*s[:i], *s[i + 1:], s[i]] if i >= 0 else s,
    "reversed": lambda s, i: s[::-1],
    "no-reweight": lambda s, i: s,
    "per-fact": lambda s, i: s,
}


def probes(cases: list[EditCase], multihop: bool) -> list[Probe]:
    out = []
    for case in cases:
        prompts = [e.prompt for e in case.edits]
        out += [Probe(case, q, prompts.index(q.prompt)) for q in case.of_kind(REL)]
        if multihop:
            out += [Probe(case, q, -1) for q in case.queries if q.kind in (NHOP, HOP)]
    return out


def prepare(editor: InstructEd, items: list[Probe], variant: str) -> tuple[list[Prepared], list[float], list[int]]:
    """The scorer's items for `variant`, with each row's similarity and instruction length in tokens."""
    stated = [ORDERS[variant]([e.sentence for e in p.case.edits], p.position) for p in items]
    instructions = [" ".join(s) for s in stated]
    texts = sorted({t for s, ins, p in zip(stated, instructions, items) for t in (*s, ins, p.query.prompt)})
    emb = dict(zip(texts, editor.encoder.encode(texts)))
    sims = []
    for s, ins, p in zip(stated, instructions, items):
        q = emb[p.query.prompt]
        if variant == "no-reweight":
            sims.append(1.0)
        elif variant == "per-fact":
            sims.append(max(float(emb[f] @ q) for f in s))
        else:
            sims.append(float(emb[ins] @ q))
    prepared, lengths = [], []
    for ins, p, sim in zip(instructions, items, sims):
        meta = editor.spanner.meta(ins, p.query.prompt, sim)
        prepared.append(Prepared(format_prompt(ins, p.query.prompt), p.query.answer, meta))
        lengths.append(meta.ins_end - meta.ins_start)
    return prepared, sims, lengths


def report(variant: str, items: list[Probe], acc: list[float], sims: list[float], lengths: list[int]) -> str:
    by_kind: dict[str, list[float]] = defaultdict(list)
    by_pos: dict[int, list[float]] = defaultdict(list)
    for p, a in zip(items, acc):
        by_kind[p.query.kind].append(a)
        if p.position >= 0:
            by_pos[p.position].append(a)
    rel = [i for i, p in enumerate(items) if p.position >= 0]
    cells = [f"{variant:12s}", *(f"{100 * np.mean(by_pos[k]):6.1f}" for k in range(4))]
    cells += [f"{100 * np.mean(by_kind[k]):6.1f}" if by_kind.get(k) else f"{'-':>6s}" for k in (REL, NHOP, HOP)]
    cells += [f"{np.mean([sims[i] for i in rel]):6.3f}", f"{np.mean([lengths[i] for i in rel]):6.1f}"]
    return " ".join(cells)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--min-edits", type=int, default=1, help="only cases with at least this many rewrites")
    parser.add_argument("--variants", default=",".join(ORDERS))
    parser.add_argument("--multihop", action="store_true", help="also score the multi-hop and single-hop questions")
    parser.add_argument("--editor-args", default="", help="InstructEd settings, key=value,key=value")
    args = parser.parse_args(argv)
    cases = [c for c in load_dataset(args.dataset, args.data_dir, args.limit) if len(c.edits) >= args.min_edits]
    lm = load_model(args.model, "cpu")
    editor = InstructEd(lm, editor_config(InstructEd, args.editor_args), Resources(data_dir=args.data_dir))
    editor.edit(cases)
    scorer = Scorer(lm.model, lm.tokenizer)
    items = probes(cases, args.multihop)
    print(f"{args.dataset}: {len(cases)} cases, {len(items)} questions; Rel by the asked rewrite's position "
          "in the gold instruction (1-4), Rel/Por_Nhop/Hop_Acc over questions, mean sim and instruction tokens (Rel)")
    print(f"{'variant':12s} " + " ".join(f"{h:>6s}" for h in ("pos1", "pos2", "pos3", "pos4", "Rel", "Nhop", "Hop",
                                                                "sim", "tokens")))
    for variant in args.variants.split(","):
        prepared, sims, lengths = prepare(editor, items, variant)
        scores = scorer.score(prepared, context=editor.forward_context)
        print(report(variant, items, [s.accuracy for s in scores], sims, lengths), flush=True)


if __name__ == "__main__":
    main()
