"""Calibrate the retrieval gate's background score (`retrieval_fill`) for an encoder, on cases no table evaluates.

For each dataset and memory size the calibration cases are split into memories of that many cases' edits ("rest":
one memory of every case from the first calibration case to the end of the file, about the authors' whole-file
memory); each rel/gen/loc query of a memory's cases is scored against it. A neighbourhood prompt (loc) that fires
is a false positive; a rel/gen query is recalled when the gate fires on its own case's edit. The chosen background
is the smallest value of the grid (the one recalling the most) at which no (dataset, memory size) lets more than
`--max-loc-fires` percent of neighbourhood prompts fire. The tables evaluate the first 200 cases of each dataset,
so calibration cases must start at 200 or later.

    python -m editors.instructed.calibrate_gate --datasets zsre,counterfact --cases 200:400 --memories 20,200,rest
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from bench.data import load_dataset
from bench.data.schema import EditCase
from bench.encoder import DEFAULT_ENCODER, SentenceEncoder
from bench.errors import BenchError
from editors.instructed.instructions import memory_entries
from editors.instructed.retrieval import InstructionMemory, gate

EVALUATED = 200  # the tables' cases: the first 200 of each dataset
GATED_KINDS = ("rel", "gen", "loc")


@dataclass(frozen=True)
class Scored:
    """One query's top-k scores in one memory, and whether its top entry is its own case's edit."""

    dataset: str
    memory: str
    kind: str
    top: list[float]
    own: bool


Chunk = tuple[list[EditCase], list[EditCase]]  # (memory cases, query cases)


def memory_chunks(cases: list[EditCase], rest: list[EditCase], size: str) -> list[Chunk]:
    """(memory cases, query cases) pairs: consecutive chunks of `size` calibration cases, or ("rest") one memory of
    every case from the first calibration case on, queried by the calibration cases."""
    if size == "rest":
        return [(rest, cases)]
    n = int(size)
    return [(cases[i:i + n], cases[i:i + n]) for i in range(0, len(cases), n)]


def score_queries(encoder, dataset: str, size: str, memory_cases: list[EditCase], query_cases: list[EditCase],
                  top_k: int) -> list[Scored]:
    memory = InstructionMemory(encoder)
    for case in memory_cases:
        entries = memory_entries(case)
        memory.add(entries, [(case.dataset, case.case_id)] * len(entries))
    queries = [(case, q) for case in query_cases for q in case.queries if q.kind in GATED_KINDS]
    rows = memory.scores(encoder.encode([q.prompt for _, q in queries]))
    out = []
    for (case, query), row in zip(queries, rows):
        hits = memory.ranked(row, top_k)
        out.append(Scored(dataset, size, query.kind, [h.score for h in hits], hits[0].owner[1] == case.case_id))
    return out


def rates(scored: list[Scored], fill: float, threshold: float, top_k: int) -> tuple[float, float]:
    """(% of loc queries that fire, % of rel/gen queries that fire on their own case's edit)."""
    loc = [s for s in scored if s.kind == "loc"]
    ins = [s for s in scored if s.kind != "loc"]
    fires = [gate(s.top, top_k, threshold, fill) for s in loc]
    recalled = [s.own and gate(s.top, top_k, threshold, fill) for s in ins]
    return 100.0 * sum(fires) / max(1, len(loc)), 100.0 * sum(recalled) / max(1, len(ins))


def choose(table: dict[float, dict[tuple[str, str], tuple[float, float]]], max_loc: float) -> float | None:
    """The smallest background at which no (dataset, memory) lets more than `max_loc` % of loc queries fire."""
    ok = [fill for fill, cells in sorted(table.items()) if all(loc <= max_loc for loc, _ in cells.values())]
    return ok[0] if ok else None


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m editors.instructed.calibrate_gate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", default="zsre,counterfact")
    p.add_argument("--cases", default="200:400", help="calibration cases start:stop (start >= 200)")
    p.add_argument("--memories", default="20,200,rest", help="memory sizes in cases; rest: from start to the end")
    p.add_argument("--encoder", default=DEFAULT_ENCODER)
    p.add_argument("--threshold", type=float, default=0.1, help="the gate's std threshold (the paper's 0.1)")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--grid", default="0.20:0.46:0.01", help="backgrounds tried, lo:hi:step")
    p.add_argument("--max-loc-fires", type=float, default=5.0, help="percent of loc queries allowed to fire")
    p.add_argument("--data-dir", default=None)
    args = p.parse_args(argv)
    start, stop = (int(x) for x in args.cases.split(":"))
    if start < EVALUATED or stop <= start:
        raise BenchError(f"calibrate_gate: --cases {args.cases} must be start:stop with {EVALUATED} <= start < stop; "
                         f"the tables evaluate the first {EVALUATED} cases of each dataset, which calibration must not "
                         "see")
    args.start, args.stop = start, stop
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    encoder = SentenceEncoder(args.encoder)
    scored: list[Scored] = []
    for dataset in args.datasets.split(","):
        rest = load_dataset(dataset, args.data_dir)[args.start:]
        cases = rest[:args.stop - args.start]
        for size in args.memories.split(","):
            for memory_cases, query_cases in memory_chunks(cases, rest, size):
                scored += score_queries(encoder, dataset, size, memory_cases, query_cases, args.top_k)
    lo, hi, step = (float(x) for x in args.grid.split(":"))
    grid = [round(lo + i * step, 6) for i in range(int(round((hi - lo) / step)) + 1)]
    keys = sorted({(s.dataset, s.memory) for s in scored})
    table = {fill: {key: rates([s for s in scored if (s.dataset, s.memory) == key], fill, args.threshold,
                               args.top_k) for key in keys} for fill in grid}
    print(f"encoder {args.encoder}, cases {args.cases}, threshold {args.threshold}, top {args.top_k}; "
          "cells: % loc fired / % rel+gen fired on their own edit")
    print("background | " + " | ".join(f"{d} m={m}" for d, m in keys))
    for fill, cells in table.items():
        print(f"{fill:.2f} | " + " | ".join(f"{loc:.1f} / {rec:.1f}" for loc, rec in cells.values()))
    chosen = choose(table, args.max_loc_fires)
    print(f"chosen background (at most {args.max_loc_fires}% loc fired everywhere): {chosen}")


if __name__ == "__main__":
    main()
