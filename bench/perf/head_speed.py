"""Gradient steps through the model with `logits_to_keep`: the output head's input made contiguous or not.

What every value optimisation (ROME, MEMIT, PMET) and fine-tuning step (FT,
LoRA, GRACE, InstructEd training) does: forward a batch whose input requires
grad, keep the logits of the last few positions, backward. Prints the ratio
of seconds per step without / with `bench.models.contiguous_head_input`, both
measured in this run on the same batch (the logits and gradients must agree),
then the same ratio for ROME's value optimisation on `--cases` CounterFact
requests (seconds per optimisation step).

    python -m bench.perf.head_speed --model smollm2-135m --threads 1 --cases 1
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch

from bench.data import load_dataset
from bench.models import load_model
from bench.registry import get_editor_class


def step(model, embeds: torch.Tensor, n_keep: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = embeds.detach().requires_grad_(True)
    logits = model(inputs_embeds=x, logits_to_keep=n_keep, use_cache=False).logits
    torch.log_softmax(logits.float(), -1)[..., 0].sum().backward()
    return logits.detach(), x.grad


def seconds_per_step(model, embeds, n_keep: int, repeats: int) -> float:
    step(model, embeds, n_keep)  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        step(model, embeds, n_keep)
    return (time.perf_counter() - t0) / repeats


@contextlib.contextmanager
def strided_head_input(model):
    """The model as loaded without `contiguous_head_input`."""
    head = model.get_output_embeddings()
    hooks = dict(head._forward_pre_hooks)
    head._forward_pre_hooks.clear()
    try:
        yield
    finally:
        head._forward_pre_hooks.update(hooks)


def rome_seconds_per_step(lm, cases) -> float:
    """ROME's value optimisation (99% of an edit) on `cases`, seconds per Adam step."""
    editor = get_editor_class("rome")(lm)
    _ = editor.contexts  # sampled once, outside the timing
    for case in cases:
        editor.edit([case])
        editor.reset()
    return editor.timings.values / max(sum(editor.timings.steps), 1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--rows", type=int, default=12, help="batch rows (ROME: 11 contexts + 1 KL row)")
    parser.add_argument("--width", type=int, default=22, help="tokens per row")
    parser.add_argument("--keep", type=int, default=3, help="logits_to_keep")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cases", type=int, default=1, help="CounterFact requests for the ROME comparison")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    lm = load_model(args.model, device="cpu")
    torch.manual_seed(0)
    ids = torch.randint(0, lm.model.config.vocab_size, (args.rows, args.width))
    embeds = lm.model.get_input_embeddings()(ids)
    with_hook = seconds_per_step(lm.model, embeds, args.keep, args.repeats)
    ref_logits, ref_grad = step(lm.model, embeds, args.keep)
    with strided_head_input(lm.model):
        without = seconds_per_step(lm.model, embeds, args.keep, args.repeats)
        logits, grad = step(lm.model, embeds, args.keep)
    print(f"model={args.model} batch={args.rows}x{args.width} logits_to_keep={args.keep} threads="
          f"{torch.get_num_threads()}")
    rel = lambda a, b: float((a - b).abs().max() / b.abs().max())  # noqa: E731
    print(f"relative max difference: logits {rel(logits, ref_logits):.1e}, input gradients {rel(grad, ref_grad):.1e}")
    print(f"s/step: strided head input {without:.3f}, contiguous {with_hook:.3f}, "
          f"ratio {without / with_hook:.2f}x")
    if args.cases:
        cases = load_dataset("counterfact", limit=args.cases)
        rome_with = rome_seconds_per_step(lm, cases)
        with strided_head_input(lm.model):
            rome_without = rome_seconds_per_step(lm, cases)
        print(f"ROME value optimisation, {len(cases)} CounterFact request(s), s/step: strided {rome_without:.3f}, "
              f"contiguous {rome_with:.3f}, ratio {rome_without / rome_with:.2f}x")


if __name__ == "__main__":
    main()
