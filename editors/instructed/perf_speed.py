"""InstructEd's cost, measured in one run on the same inputs.

Prints (1) InstructEd forward time / base model forward time on the same templated token batches
(target <= 1.5x on CPU), and the same ratio end to end through `editor.score` (tokenising, encoder
similarities) against the base scorer; (2) training examples per second (forward + backward, batches
of B edit + B locality examples); (3) checkpoint bytes for this model and, computed from the config
alone, for a 7B-shaped LLaMA (32 layers, hidden 4096, layers 10-20, 5 prefixes: the paper's ~0.8 MB).

    python -m editors.instructed.perf_speed --model smollm2-135m --cases 20
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from bench.arch import scaled_layer_range
from bench.data import load_dataset
from bench.editor import Request, Resources
from bench.models import load_model
from bench.scoring import Prepared
from editors.instructed import InstructEd, InstructEdConfig
from editors.instructed import checkpoint as ckpt
from editors.instructed.config import PAPER_LAYERS
from editors.instructed.data import build_pairs
from editors.instructed.prefix import PrefixBank, expected_shapes
from editors.instructed.train import Trainer, _info, encode_pairs, parse_args, train_config


def timed(fn, repeats: int) -> float:
    """Median seconds of `repeats` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@torch.no_grad()
def forward_ratio(editor: InstructEd, items: list[Prepared], repeats: int) -> tuple[float, float]:
    """(base seconds, InstructEd seconds) over the same padded batches of the same templated prompts."""
    scorer = editor.scorer
    batches = [batch for _, batch in scorer.batches([scorer.encode(it) for it in items])]
    context = editor.forward_context
    base = timed(lambda: [scorer.logits(b) for b in batches], repeats)
    ours = timed(lambda: [scorer.logits(b, context) for b in batches], repeats)
    return base, ours


def training_speed(editor: InstructEd, cases, encoder, batch: int, steps: int) -> float:
    """Examples (edit + locality) per second over `steps` optimiser steps, after one warm-up step."""
    lm, layers = editor.lm, editor.config.layers
    pairs = build_pairs(cases)
    examples = encode_pairs(pairs, editor.scorer, editor.spanner, encoder)
    args = train_config(parse_args(["--model", lm.name, "--batch-size", str(batch)]))
    bank = PrefixBank.for_model(lm.model, layers)
    info = _info(args, lm, layers, True, ["perf"], len(pairs), None)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(args, lm, bank, info, examples, ckpt.TrainedCases({}, []), Path(tmp))
        chunks = [[examples[(i * batch + j) % len(examples)] for j in range(batch)] for i in range(steps + 1)]
        trainer.step(chunks[0], 1e-3)
        t0 = time.perf_counter()
        for rows in chunks[1:]:
            trainer.step(rows, 1e-3)
        seconds = time.perf_counter() - t0
    return 2 * batch * steps / seconds


def checkpoint_bytes(lm, layers: list[int]) -> int:
    bank = PrefixBank.for_model(lm.model, layers)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt.save(Path(tmp), bank.state_dict(), _info(train_config(parse_args([])), lm, layers, True, [], 0, None),
                  ckpt.TrainedCases({}, []))
        return (Path(tmp) / ckpt.WEIGHTS).stat().st_size


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--dataset", default="counterfact")
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-steps", type=int, default=5)
    parser.add_argument("--train-batch", type=int, default=6)
    args = parser.parse_args(argv)
    lm = load_model(args.model, args.device)
    cases = load_dataset(args.dataset, limit=args.cases)
    layers = scaled_layer_range(lm.model, *PAPER_LAYERS)
    resources = Resources(device=str(lm.device))
    with tempfile.TemporaryDirectory() as tmp:  # speed does not depend on the prefix values: a fresh bank
        ckpt.save(Path(tmp), PrefixBank.for_model(lm.model, layers).state_dict(),
                  _info(train_config(parse_args(["--model", lm.name])), lm, layers, True, [], 0, None),
                  ckpt.TrainedCases({}, []))
        editor = InstructEd(lm, InstructEdConfig(checkpoint=tmp), resources)
    editor.edit(cases)
    requests = [Request(c, q) for c in cases for q in c.queries]
    items = editor.prepare(requests).items
    base, ours = forward_ratio(editor, items, args.repeats)
    plain = [Prepared(it.prompt, it.target) for it in items]
    e2e_base = timed(lambda: editor.scorer.score(plain), args.repeats)
    e2e_ours = timed(lambda: editor.score(requests), args.repeats)
    tokens = sum(len(editor.scorer.encode(it).ids) for it in items)
    print(f"model={lm.name} device={lm.device} threads={torch.get_num_threads()} queries={len(items)} "
          f"tokens={tokens} layers={layers[0]}-{layers[-1]} n_prefix=5 reweight=on")
    print(f"forward, same token batches: base {base:.3f}s  InstructEd {ours:.3f}s  ratio {ours / base:.2f}x "
          f"(target <= 1.5x)")
    print(f"editor.score end to end (tokenise, encoder sims, forward): base scorer {e2e_base:.3f}s  "
          f"InstructEd {e2e_ours:.3f}s  ratio {e2e_ours / e2e_base:.2f}x")
    speed = training_speed(editor, cases, resources.encoder(), args.train_batch, args.train_steps)
    print(f"training: {speed:.2f} "
          f"examples/s (batches of {args.train_batch} edit + {args.train_batch} locality, forward + backward)")
    shapes = expected_shapes(list(range(10, 20)), 4096, 5, "attn")
    llama7b = sum(4 * a * b for a, b in shapes.values())
    print(f"checkpoint: {checkpoint_bytes(lm, layers):,} bytes for {lm.name} (prefix.safetensors); "
          f"7B LLaMA (hidden 4096, layers 10-20, 5 prefixes, fp32): {llama7b:,} bytes of tensors "
          f"= {llama7b / 1e6:.2f} MB (paper: about 0.8 MB)")


if __name__ == "__main__":
    main()
