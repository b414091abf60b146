"""Seconds per case of every editor on two models, measured in one process, and where a large vocabulary costs.

Runs `bench run` (the runner, in-process) for each editor on the first `--cases` cases of `--dataset` with
each model, into temporary directories, and prints seconds per case (config.json's per-editor `seconds`,
editor construction included: covariance statistics come from the cache) and their ratio. Then, per model,
the output head's share of a scoring forward (all positions' logits vs `logits_to_keep=1`) and of a value
optimisation step (the last `n_keep` columns' logits, forward + backward).

    python -m bench.perf.model_speed --models smollm2-135m,gemma3-270m --cases 3 --threads 1
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from bench.lifecycle import RunConfig
from bench.models import load_model
from bench.perf.head_speed import seconds_per_step
from bench.runner import run

EDITORS = ("noedit", "ft-l", "ft-m", "lora", "rome", "memit", "pmet", "serac", "ike", "grace", "mello",
           "instructed", "instructed-retrieval")


def editor_seconds(model: str, editors: list[str], dataset: str, cases: int, data_dir: str | None) -> dict:
    """Editor -> seconds per case of one run of `editors` on `model` (one process, the editors in turn)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        run(RunConfig(editors=editors, dataset=dataset, out=str(out), model=model, limit=cases,
                      data_dir=data_dir, device="cpu", bootstrap=10))
        record = json.loads((out / "config.json").read_text())
        return {name: e["seconds"] / record["n_cases"] for name, e in record["editors"].items()}


def _timed(fn, repeats: int) -> float:
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats


def head_share(model_name: str, tokens: int, n_keep: int, repeats: int) -> dict:
    """Seconds of a forward with every position's logits vs the last one's, and of a forward + backward keeping
    `n_keep` positions vs one; the differences are the output head's cost."""
    lm = load_model(model_name, "cpu")
    model = lm.model
    ids = torch.randint(3, min(1000, model.config.vocab_size), (4, tokens), generator=torch.Generator().manual_seed(0))

    def forward(keep: int):
        with torch.no_grad():
            model(input_ids=ids, logits_to_keep=keep, use_cache=False)

    all_logits, one = _timed(lambda: forward(0), repeats), _timed(lambda: forward(1), repeats)
    with torch.no_grad():
        embeds = model.get_input_embeddings()(ids)
    step_keep, step_one = (seconds_per_step(model, embeds, keep, repeats) for keep in (n_keep, 1))
    return {"vocab": model.config.vocab_size, "hidden": model.config.hidden_size,
            "forward_all": all_logits, "forward_last": one, "step_keep": step_keep, "step_last": step_one}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="smollm2-135m,gemma3-270m")
    p.add_argument("--editors", default=",".join(EDITORS))
    p.add_argument("--dataset", default="counterfact")
    p.add_argument("--cases", type=int, default=3)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--tokens", type=int, default=24, help="sequence length of the head-share batches (4 rows)")
    p.add_argument("--n-keep", type=int, default=12, help="positions whose logits a value optimisation step keeps")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    models, editors = args.models.split(","), args.editors.split(",")
    seconds = {m: editor_seconds(m, editors, args.dataset, args.cases, args.data_dir) for m in models}
    first, *others = models
    print(f"seconds per case, {args.dataset}, {args.cases} cases, {args.threads} thread(s); ratio = model / {first}")
    print(f"{'editor':22s}" + "".join(f"{m:>16s}" for m in models) + "".join(f"{'ratio ' + m:>22s}" for m in others))
    for e in editors:
        row = [seconds[m].get(e, float("nan")) for m in models]
        print(f"{e:22s}" + "".join(f"{s:16.2f}" for s in row) + "".join(f"{s / row[0]:22.2f}" for s in row[1:]))
    print(f"\noutput head (4 rows x {args.tokens} tokens, {args.repeats} repeats, seconds per call)")
    for m in models:
        h = head_share(m, args.tokens, args.n_keep, args.repeats)
        print(f"{m}: vocab {h['vocab']}, hidden {h['hidden']}; scoring forward all logits {h['forward_all']:.3f}s vs "
              f"last only {h['forward_last']:.3f}s (head {1 - h['forward_last'] / h['forward_all']:.0%} of it); "
              f"value step keeping {args.n_keep} positions {h['step_keep']:.3f}s vs 1 {h['step_last']:.3f}s "
              f"(head {1 - h['step_last'] / h['step_keep']:.0%})")


if __name__ == "__main__":
    main()
