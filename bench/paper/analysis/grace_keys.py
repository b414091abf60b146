"""GRACE's keys at its layer, SmolLM2 vs Gemma (20 ZsRE cases): why GRACE generalises to paraphrases on Gemma.

GRACE defers to a codebook entry when a query's key lies within the entry's radius (eps = 1, Euclidean, in the
key's own units). This writes, per model, the median key norm of the edit prompts and the median distance from
an edit prompt's key to its paraphrase's and to its locality prompt's, and how many paraphrases lie within 1.

    OMP_NUM_THREADS=1 BENCH_DATA_DIR=../shared/data python -m bench.paper.analysis.grace_keys
writes results/suite-gemma3/grace-keys.txt.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from statistics import median

import torch

from bench.arch import module_path
from bench.data import load_dataset
from bench.data.registry import resolve_data_dir
from bench.models import load_model
from bench.paper.analysis import write_report
from editors.grace.config import GRACEConfig, edit_layer

OUT = Path("results/suite-gemma3/grace-keys.txt")


def last_token_key(lm, module, prompt: str) -> torch.Tensor:
    """The input of GRACE's module at the prompt's last token (GRACE's key)."""
    got = {}
    handle = module.register_forward_pre_hook(lambda _m, args: got.setdefault("key", args[0][0, -1].detach()))
    try:
        with torch.no_grad():
            lm.model(**lm.tokenizer(prompt, return_tensors="pt"))
    finally:
        handle.remove()
    return got["key"]


def model_line(name: str, cases) -> str:
    """One model's key norm, distances and paraphrases within GRACE's radius."""
    lm = load_model(name, "cpu")
    layer = edit_layer(lm.model, GRACEConfig())
    module = lm.model.get_submodule(module_path(lm.model, layer, "mlp_out"))
    norms, to_paraphrase, to_locality = [], [], []
    for case in cases:
        prompt = {q.kind: q.prompt for q in reversed(case.queries)}  # the first query of each kind
        edit = last_token_key(lm, module, prompt["rel"])
        norms.append(edit.norm().item())
        to_paraphrase.append((last_token_key(lm, module, prompt["gen"]) - edit).norm().item())
        to_locality.append((last_token_key(lm, module, prompt["loc"]) - edit).norm().item())
    within = sum(d < GRACEConfig().eps for d in to_paraphrase)
    return (f"{name}: layer {layer}, key norm {median(norms):.2f}, distance to paraphrase "
            f"{median(to_paraphrase):.2f}, to locality prompt {median(to_locality):.2f}, paraphrases within "
            f"eps: {within} of {len(cases)}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="smollm2-135m,gemma3-270m", help="comma-separated models")
    p.add_argument("--dataset", default="zsre", help="dataset name or NAME:PATH")
    p.add_argument("--cases", type=int, default=20, help="the first N cases")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    cases = load_dataset(args.dataset, resolve_data_dir(args.data_dir), limit=args.cases)
    write_report([model_line(name, cases) for name in args.models.split(",")], args.out)


if __name__ == "__main__":
    main()
