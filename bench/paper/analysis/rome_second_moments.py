"""Why sequential ROME forgets on Gemma, and what the second moments change.

ROME writes edit j as delta_j = r_j u_j^T with u_j = C^-1 k_j / (k_j^T C^-1 k_j) (C = I when
mom2_adjustment is off, as in both models' hparams). Applied after edit i, it moves edit i's output by
r_j (u_j . k_i): with overlap u_j . k_i near 1, edit j overwrites edit i. This prints, for the first 20
edits of the sequential CounterFact run on each model, the median and the 90th percentile of |u_j . k_i|
(i != j) with C = I, and on Gemma also with the model's own second moments (ROME's statistics spec, the
same as MEMIT's, so its cached file of that layer), plus the median cosine between keys. Then ROME with the
second moments (rome-single-mom2/, rome-sequential-mom2/) minus ROME as run in the tables (C = I), paired
over the same 100 cases.

Run from the repository root (output: rome-second-moments.txt):
    OMP_NUM_THREADS=1 BENCH_DATA_DIR=../shared/data python results/suite-gemma3/rome-second-moments.py
"""

import json
from pathlib import Path

import torch

from bench.data import load_dataset
from bench.data.registry import resolve_data_dir
from bench.editor import Resources
from bench.metrics import paired_bootstrap
from bench.models import load_model
from bench.paper.findings import per_case
from bench.registry import get_editor_class
from editors.locate.keys import read_at_lookup
from editors.locate.requests import requests_from_cases
from editors.locate.stats import SecondMoments

RUNS = {"smollm2-135m": Path("results/suite-smollm2/counterfact-sequential"),
        "gemma3-270m": Path("results/suite-gemma3/counterfact-sequential")}
N = 20
GEMMA = Path("results/suite-gemma3")
# protocol, ROME with the second moments, ROME as in the tables (C = I)
PAIRS = (("single", GEMMA / "rome-single-mom2", GEMMA / "counterfact"),
         ("sequential/final", GEMMA / "rome-sequential-mom2", GEMMA / "counterfact-sequential"))


def edit_order(run: Path) -> list[str]:
    """The first N case ids of a sequential run, in the order it edited them."""
    return json.loads((run / "config.json").read_text())["case_ids"][:N]


def overlaps(keys: torch.Tensor, cov: torch.Tensor | None) -> torch.Tensor:
    """|u_j . k_i| for i != j, u_j as ROME writes it."""
    whitened = keys if cov is None else torch.linalg.solve(cov, keys.T).T
    u = whitened / (whitened * keys).sum(1, keepdim=True)
    table = (keys @ u.T).abs()  # [i, j] = |u_j . k_i|
    return table[~torch.eye(len(keys), dtype=torch.bool)]


def summary(values: torch.Tensor) -> str:
    return f"median {values.median():.2f}, 90th percentile {values.quantile(0.9):.2f}"


def compare_runs() -> None:
    for protocol, with_moments, without in PAIRS:
        a, b = (per_case([str(run)])[("counterfact", protocol, "rome")] for run in (with_moments, without))
        for metric in ("Rel", "Gen", "Loc", "Score", "H"):
            d, lo, hi = paired_bootstrap(a, b, metric, seed=0)
            print(f"gemma3-270m, {protocol}: ROME with C = second moments minus C = I, {metric}: "
                  f"{d:+.1f} [{lo:+.1f}, {hi:+.1f}] (n={len(a)})")


def key_overlaps() -> None:
    data_dir = resolve_data_dir(None)
    every = {c.case_id: c for c in load_dataset("counterfact", data_dir, limit=100)}
    for name, run in RUNS.items():
        cases = [every[i] for i in edit_order(run)]
        lm = load_model(name, "cpu")
        resources = Resources(data_dir=data_dir)
        rome = get_editor_class("rome")(lm, None, resources)
        site = (rome.config.layers[0], "mlp_out")
        keys, _ = read_at_lookup(rome.scorer, requests_from_cases(cases), rome.contexts, [site])
        k = keys[site].mean(1).double()
        unit = k / k.norm(dim=1, keepdim=True)
        cosines = (unit @ unit.T)[~torch.eye(len(k), dtype=torch.bool)]
        print(f"{name}, layer {site[0]}: key cosine median {cosines.median():.2f}; overlap with C = I: "
              f"{summary(overlaps(k, None))}")
        if name == "gemma3-270m":
            cov = SecondMoments(lm, rome.stats_spec, data_dir).get([site])[site].double()
            print(f"{name}, layer {site[0]}: overlap with C = the model's second moments: "
                  f"{summary(overlaps(k, cov))}")


def main() -> None:
    key_overlaps()
    compare_runs()


if __name__ == "__main__":
    main()
