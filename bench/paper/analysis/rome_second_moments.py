"""Why sequential ROME forgets on Gemma, and what the second moments change.

ROME writes edit j as delta_j = r_j u_j^T with u_j = C^-1 k_j / (k_j^T C^-1 k_j) (C = I when
mom2_adjustment is off, as in both models' hparams). Applied after edit i, it moves edit i's output by
r_j (u_j . k_i): with overlap u_j . k_i near 1, edit j overwrites edit i. This writes, for the first 20
edits of the sequential CounterFact run on each model, the median and the 90th percentile of |u_j . k_i|
(i != j) with C = I, and on Gemma also with the model's own second moments (ROME's statistics spec, the
same as MEMIT's, so its cached file of that layer), plus the median cosine between keys. Then ROME with the
second moments (rome-single-mom2/, rome-sequential-mom2/) minus ROME as run in the tables (C = I), paired
over the same 100 cases.

    OMP_NUM_THREADS=1 BENCH_DATA_DIR=../shared/data python -m bench.paper.analysis.rome_second_moments
writes results/suite-gemma3/rome-second-moments.txt.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from bench.data import load_dataset
from bench.data.registry import resolve_data_dir
from bench.editor import Resources
from bench.metrics import paired_bootstrap
from bench.models import load_model
from bench.paper.analysis import results_parser, write_report
from bench.paper.findings import per_case
from bench.registry import get_editor_class
from editors.locate.keys import read_at_lookup
from editors.locate.requests import requests_from_cases
from editors.locate.stats import SecondMoments

# model -> its sequential CounterFact run, below the results folder
RUNS = {"smollm2-135m": "suite-smollm2/counterfact-sequential", "gemma3-270m": "suite-gemma3/counterfact-sequential"}
MOMENTS = ("gemma3-270m",)  # the models whose overlap is also measured with C = the second moments
N = 20
# protocol, ROME with the second moments, ROME as in the tables (C = I); below the results folder
PAIRS = (("single", "suite-gemma3/rome-single-mom2", "suite-gemma3/counterfact"),
         ("sequential/final", "suite-gemma3/rome-sequential-mom2", "suite-gemma3/counterfact-sequential"))
PAIRED_MODEL = "gemma3-270m"  # the model of PAIRS' runs
OUT = "suite-gemma3/rome-second-moments.txt"


def edit_order(run: Path, n: int = N) -> list[str]:
    """The first n case ids of a sequential run, in the order it edited them."""
    return json.loads((run / "config.json").read_text())["case_ids"][:n]


def overlaps(keys: torch.Tensor, cov: torch.Tensor | None) -> torch.Tensor:
    """|u_j . k_i| for i != j, u_j as ROME writes it."""
    whitened = keys if cov is None else torch.linalg.solve(cov, keys.T).T
    u = whitened / (whitened * keys).sum(1, keepdim=True)
    table = (keys @ u.T).abs()  # [i, j] = |u_j . k_i|
    return table[~torch.eye(len(keys), dtype=torch.bool)]


def summary(values: torch.Tensor) -> str:
    return f"median {values.median():.2f}, 90th percentile {values.quantile(0.9):.2f}"


def compare_runs(results: Path, pairs=PAIRS, model: str = PAIRED_MODEL) -> list[str]:
    """ROME with the second moments minus ROME with C = I, per protocol and metric, paired over the same cases."""
    lines = []
    for protocol, with_moments, without in pairs:
        a, b = (per_case([str(results / run)])[("counterfact", protocol, "rome")] for run in (with_moments, without))
        for metric in ("Rel", "Gen", "Loc", "Score", "H"):
            d, lo, hi = paired_bootstrap(a, b, metric, seed=0)
            lines.append(f"{model}, {protocol}: ROME with C = second moments minus C = I, {metric}: "
                         f"{d:+.1f} [{lo:+.1f}, {hi:+.1f}] (n={len(a)})")
    return lines


def key_overlaps(results: Path, runs: dict[str, str], moments, n: int = N, data_dir: str | None = None) -> list[str]:
    """Per model: the key cosines and ROME's overlaps of the first n edits of its sequential run."""
    data_dir = resolve_data_dir(data_dir)
    every = {c.case_id: c for c in load_dataset("counterfact", data_dir, limit=100)}
    lines = []
    for name, run in runs.items():
        cases = [every[i] for i in edit_order(results / run, n)]
        lm = load_model(name, "cpu")
        rome = get_editor_class("rome")(lm, None, Resources(data_dir=data_dir))
        site = (rome.config.layers[0], "mlp_out")
        keys, _ = read_at_lookup(rome.scorer, requests_from_cases(cases), rome.contexts, [site])
        k = keys[site].mean(1).double()
        unit = k / k.norm(dim=1, keepdim=True)
        cosines = (unit @ unit.T)[~torch.eye(len(k), dtype=torch.bool)]
        lines.append(f"{name}, layer {site[0]}: key cosine median {cosines.median():.2f}; overlap with C = I: "
                     f"{summary(overlaps(k, None))}")
        if name in moments:
            cov = SecondMoments(lm, rome.stats_spec, data_dir).get([site])[site].double()
            lines.append(f"{name}, layer {site[0]}: overlap with C = the model's second moments: "
                         f"{summary(overlaps(k, cov))}")
    return lines


def main(argv: list[str] | None = None) -> Path:
    p = results_parser(__doc__, OUT)
    p.add_argument("--runs", default=",".join(f"{m}={r}" for m, r in RUNS.items()),
                   help="MODEL=RUN,...: each model's sequential CounterFact run below --results")
    p.add_argument("--moments", default=",".join(MOMENTS), help="models also measured with the second moments")
    p.add_argument("--edits", type=int, default=N, help="the first N edits of each run")
    p.add_argument("--data-dir", default=None)
    args = p.parse_args(argv)
    runs = dict(spec.split("=", 1) for spec in args.runs.split(","))
    lines = key_overlaps(args.results, runs, set(filter(None, args.moments.split(","))), args.edits, args.data_dir)
    return write_report(lines + compare_runs(args.results), args.out or args.results / OUT)


if __name__ == "__main__":
    main()
