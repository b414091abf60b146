"""Value optimisation with and without the prefix cache: seconds per step and the largest difference.

The columns left of every row's lookup token never see a delta, so
`optimise_values(reuse_prefix=True)` computes them once; this prints how much
that saves per optimisation step with each method's settings, and checks the
targets agree with the full forward.

    python -m editors.locate.perf_value_prefix --model smollm2-135m --cases 2 --threads 1
"""

from __future__ import annotations

import argparse
import time

import torch

from bench.data import load_dataset
from bench.models import load_model
from bench.registry import get_editor_class
from editors.locate.requests import requests_from_cases
from editors.locate.values import optimise_values


def compare(editor, requests, sites) -> tuple[float, float, float]:
    """(seconds per step without, with the prefix cache, largest relative target difference)."""
    timings, results = {}, {}
    for reuse in (False, True):
        t0 = time.perf_counter()
        results[reuse] = [optimise_values(editor.scorer, [r], editor.contexts, sites, editor.value_settings(),
                                          reuse_prefix=reuse) for r in requests]
        steps = sum(s for res in results[reuse] for s in res.steps) + len(requests)  # + each final forward
        timings[reuse] = (time.perf_counter() - t0) / steps
    diff = max(float((a.targets[s] - b.targets[s]).norm() / b.targets[s].norm())
               for a, b in zip(results[True], results[False]) for s in sites)
    return timings[False], timings[True], diff


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--datasets", default="counterfact,zsre")
    parser.add_argument("--cases", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    lm = load_model(args.model)
    editor = get_editor_class("rome")(lm, get_editor_class("rome").config_class(mom2_adjustment=False))
    site = (editor.config.layers[0], "mlp_out")
    for dataset in args.datasets.split(","):
        requests = requests_from_cases(load_dataset(dataset, limit=args.cases))
        full, fast, diff = compare(editor, requests, [site])
        print(f"{args.model} {dataset} ({len(requests)} requests, ROME settings, {len(editor.contexts)} contexts): "
              f"{full:.3f} s/step full forward, {fast:.3f} s/step with the prefix cache: {full / fast:.2f}x; "
              f"largest relative target difference {diff:.1e}")


if __name__ == "__main__":
    main()
