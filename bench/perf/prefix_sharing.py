"""What sharing a prompt prefix saves (IKE's demonstrations), and that it changes nothing, in one process.

Runs `bench run` (in-process) for `--editor` on the first `--cases` cases twice: as the harness runs it, and with
prefix sharing turned off (`Scorer.prefix_fits` answering False). Prints both editors' seconds (config.json),
their ratio, whether per_case.csv is byte-identical, and the largest log-probability difference over the rows.
On sliding-window models (Gemma 3) sharing is used only where it is exact (the longest row fits in the window).

    python -m bench.perf.prefix_sharing --model gemma3-270m --editor ike --cases 3 --threads 1
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from unittest import mock

import torch

from bench.lifecycle import RunConfig
from bench.runner import run
from bench.scoring import Scorer


def one_run(out: Path, args, shared: bool) -> float:
    """The editor's seconds for one run into `out`, with prefix sharing as the harness does it or off."""
    cfg = RunConfig(editors=[args.editor], dataset=args.dataset, out=str(out), model=args.model, limit=args.cases,
                    data_dir=args.data_dir, device="cpu", bootstrap=10)
    if shared:
        run(cfg)
    else:
        with mock.patch.object(Scorer, "prefix_fits", lambda self, rows, extra=0: False):
            run(cfg)
    return json.loads((out / "config.json").read_text())["editors"][args.editor]["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--editor", default="ike")
    parser.add_argument("--dataset", default="counterfact")
    parser.add_argument("--cases", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        shared, alone = Path(tmp) / "shared", Path(tmp) / "alone"
        seconds = {"shared": one_run(shared, args, True), "alone": one_run(alone, args, False)}
        rows = [[json.loads(line) for line in (d / "cases.jsonl").read_text().splitlines()] for d in (shared, alone)]
        delta = max((abs(a["logprob"] - b["logprob"]) for a, b in zip(*rows) if "logprob" in a), default=0.0)
        same_preds = all(a.get("pred_ids") == b.get("pred_ids") for a, b in zip(*rows))
        identical = (shared / "per_case.csv").read_bytes() == (alone / "per_case.csv").read_bytes()
    print(f"{args.editor} on {args.model}, {args.dataset}, {args.cases} cases, {args.threads} thread(s)")
    print(f"seconds: shared prefix {seconds['shared']:.1f}, each row alone {seconds['alone']:.1f}, "
          f"ratio alone/shared {seconds['alone'] / seconds['shared']:.2f}")
    print(f"per_case.csv identical: {identical}; max |delta logprob| {delta:.2e} over {len(rows[0])} rows; "
          f"same predicted tokens: {same_preds}")


if __name__ == "__main__":
    main()
