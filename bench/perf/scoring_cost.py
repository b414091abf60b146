"""What generation scoring and the side effects cost: one run's time with teacher forcing alone, with both
scorings, and with both plus the side effects and probes, on the same cases and editors, in this one process.

Prints seconds per configuration and the ratios to teacher forcing alone (issue target for `both`: at most 2x).
Editing time is part of every configuration, as in a real run (ROME's edit dominates a case; noedit has none).

    python -m bench.perf.scoring_cost --model smollm2-135m --dataset counterfact --cases 10 --editors noedit,rome
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from bench.lifecycle import RunConfig
from bench.runner import run

CONFIGS = {"tf": {"scoring": "tf", "side_effects": False, "loc_unrelated": 0, "fluency_prompts": 0},
           "both": {"scoring": "both", "side_effects": False, "loc_unrelated": 0, "fluency_prompts": 0},
           "both + side effects + probes (the default)": {}}


def measure(model: str, dataset: str, n_cases: int, editors: list[str]) -> dict[str, float]:
    """Seconds of `bench run` per configuration (model loading included, the same in each)."""
    seconds = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (label, options) in enumerate(CONFIGS.items()):
            cfg = RunConfig(editors=editors, dataset=dataset, out=f"{tmp}/{i}", model=model, limit=n_cases,
                            device="cpu", bootstrap=0, **options)
            start = time.perf_counter()
            run(cfg)
            seconds[label] = time.perf_counter() - start
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--dataset", default="counterfact")
    parser.add_argument("--cases", type=int, default=10)
    parser.add_argument("--editors", default="noedit,rome")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seconds = measure(args.model, args.dataset, args.cases, args.editors.split(","))
    base = seconds["tf"]
    print(f"{args.model}, {args.dataset}, {args.cases} cases, editors {args.editors}, {args.threads} thread(s)")
    for label, s in seconds.items():
        print(f"  {label:44s} {s:8.1f} s   {s / base:5.2f}x teacher forcing alone")


if __name__ == "__main__":
    main()
