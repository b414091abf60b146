"""One WISE edit with a full forward per step and with the layers below the side memory computed once.

Both paths run in the same process on the same cases (the second after the first's reset) and must give the
same losses and side memory; this prints seconds per edit and step for each and the largest difference.

    python -m editors.wise.perf_lower --model smollm2-135m --cases 1 --threads 1
"""

from __future__ import annotations

import argparse
import time

import torch

from bench.arch import num_layers
from bench.data import load_dataset
from bench.data.registry import resolve_data_dir
from bench.editor import Resources
from bench.models import load_model
from editors.wise import WISE


def timed_edit(editor: WISE, case, reuse: bool) -> tuple[float, list[float], torch.Tensor]:
    """(seconds, losses, side memory) of one edit() call; the editor is reset afterwards."""
    editor.reuse_lower = reuse
    t0 = time.perf_counter()
    editor.edit([case])
    seconds = time.perf_counter() - t0
    out = seconds, list(editor.last_losses), editor.memories.current.weight.clone()
    editor.reset()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--dataset", default="zsre")
    parser.add_argument("--cases", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    lm = load_model(args.model, device="cpu")
    editor = WISE(lm, resources=Resources(data_dir=resolve_data_dir()))
    assert editor.prefixes and editor.irrelevant  # one-off context sampling and data loading, not timed
    print(f"model={args.model} layer={editor.layer} of {num_layers(editor.model)} "
          f"threads={torch.get_num_threads()} rows/edit={len(editor.prefixes)} + 1 irrelevant")
    for case in load_dataset(args.dataset, limit=args.cases):
        full, fast = timed_edit(editor, case, False), timed_edit(editor, case, True)
        steps = len(full[1])
        diff = max(abs(a - b) for a, b in zip(full[1], fast[1]))
        print(f"{case.case_id}: {steps} steps; full forward {full[0]:.1f}s ({full[0] / steps:.2f} s/step), "
              f"lower layers once {fast[0]:.1f}s ({fast[0] / steps:.2f} s/step): {full[0] / fast[0]:.2f}x; "
              f"largest loss difference {diff:.1e}, memory difference {float((full[2] - fast[2]).abs().max()):.1e}",
              flush=True)


if __name__ == "__main__":
    main()
