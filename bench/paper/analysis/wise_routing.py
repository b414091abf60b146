"""Why does WISE lose its earlier edits in a sequential stream? The router or the side memory, measured.

Issue 36: after 100 sequential ZsRE edits WISE keeps Rel 29.8 (GRACE 100), although each edit is right when it is
made. Two causes would give that: the router stops sending an earlier edit's prompt to the side memory (its
activation distance falls below the threshold), or later edits overwrite what the side memory answers for it.
This edits `--edits` cases one after another (one edit() call each, as `--protocol sequential` does) and scores
every edit prompt (Rel) three ways on the final model: as routed, always through the side memory (act_ratio 0),
and never (the unedited model); with each prompt's distance to the side memory against the threshold, and the
share of the cases' locality prompts the router sends to the side memory. Rows are cohorts of edits in the order
they were made. The prompt right after its own edit gives the immediate column.

    python -m bench.paper.analysis.wise_routing --dataset zsre --edits 40
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from bench.data import load_dataset
from bench.data.schema import LOC, REL, EditCase
from bench.editor import Request, Resources
from bench.models import load_model
from bench.paper.analysis import editor_config
from editors.wise.editor import WISE
from editors.wise.routing import MAIN

ALWAYS, NEVER = 0.0, math.inf  # act_ratio values that send every row to the side memory / none


@dataclass
class Probe:
    """One prompt scored once: token accuracy (0-1), routed or not, and its distance over the threshold."""

    accuracy: float
    routed: bool
    ratio: float  # distance to the side memory / threshold (>= 1: routed); nan before any edit


def probe(editor: WISE, case: EditCase, kind: str, act_ratio: float | None = None) -> list[Probe]:
    """The case's queries of `kind`, one at a time (so each keeps its own routing record)."""
    saved = editor.config.act_ratio
    if act_ratio is not None:
        editor.config.act_ratio = act_ratio
    try:
        out = []
        for query in (q for q in case.queries if q.kind == kind):
            score = editor.score([Request(case, query)])[0]
            out.append(_probe(editor, score.accuracy))
        return out
    finally:
        editor.config.act_ratio = saved


def _probe(editor: WISE, accuracy: float) -> Probe:
    routing = editor.last_routing
    if routing is None or routing.distances.shape[1] == 0:
        return Probe(accuracy, False, math.nan)
    ratio = (routing.distances[0] / routing.thresholds.clamp(min=1e-12)).max()
    return Probe(accuracy, int(routing.choice[0]) != MAIN, float(ratio))


def cohort_table(immediate: list[list[Probe]], final: dict[str, list[list[Probe]]], loc: list[list[Probe]],
                 size: int) -> list[str]:
    """One line per cohort of `size` edits: Rel immediate, Rel final as routed / through the side memory /
    without it, share routed, median distance over threshold, share of locality prompts routed (in %)."""
    head = (f"{'edits':>9s} {'Rel now':>8s} {'routed':>7s} {'side':>6s} {'main':>6s} {'%route':>7s} "
            f"{'d/thr':>6s} {'Loc%rt':>7s}")
    lines = [head]
    n = len(immediate)
    for start in range(0, n, size):
        sl = slice(start, min(start + size, n))

        def mean(rows: list[list[Probe]], field: str, sl: slice = sl) -> float:
            values = [getattr(p, field) for case in rows[sl] for p in case]
            return 100 * float(np.mean(values)) if values else math.nan

        ratios = [p.ratio for case in final["routed"][sl] for p in case]
        lines.append(f"{start + 1:>4d}-{sl.stop:<4d} {mean(immediate, 'accuracy'):8.1f} "
                     f"{mean(final['routed'], 'accuracy'):7.1f} {mean(final['side'], 'accuracy'):6.1f} "
                     f"{mean(final['main'], 'accuracy'):6.1f} {mean(final['routed'], 'routed'):7.1f} "
                     f"{float(np.median(ratios)):6.2f} {mean(loc, 'routed'):7.1f}")
    return lines


def run(cases: list[EditCase], editor: WISE) -> tuple[list[list[Probe]], dict[str, list[list[Probe]]],
                                                     list[list[Probe]]]:
    immediate = []
    for case in tqdm(cases, desc="wise edits", unit="edit"):
        editor.edit([case])
        immediate.append(probe(editor, case, REL))
    final = {"routed": [probe(editor, c, REL) for c in cases],
             "side": [probe(editor, c, REL, ALWAYS) for c in cases],
             "main": [probe(editor, c, REL, NEVER) for c in cases]}
    loc = [probe(editor, c, LOC) for c in cases]
    return immediate, final, loc


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="zsre")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--edits", type=int, default=40, help="cases edited one after another")
    parser.add_argument("--cohort", type=int, default=10, help="edits per line of the table")
    parser.add_argument("--editor-args", default="", help="WISE settings, key=value,key=value")
    args = parser.parse_args(argv)
    cases = load_dataset(args.dataset, args.data_dir, args.edits)
    config = editor_config(WISE, args.editor_args)
    editor = WISE(load_model(args.model, "cpu"), config, Resources(data_dir=args.data_dir))
    immediate, final, loc = run(cases, editor)
    settings = args.editor_args or "defaults"
    print(f"WISE on {args.model}, {len(cases)} {args.dataset} edits made one after another ({settings});"
          " Rel in %: right after its edit (now), and on the final model as routed, through the side memory always,"
          " and without it; %route: Rel prompts routed; d/thr: median distance over threshold; Loc%rt: locality"
          " prompts routed")
    print("\n".join(cohort_table(immediate, final, loc, args.cohort)))


if __name__ == "__main__":
    main()
