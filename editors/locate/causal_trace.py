"""Causal tracing (ROME, Meng et al. 2022, Sec. 2) to choose the edited layer for a model.

For facts the model knows (data/rome/known_1000.json, read directly), the
subject's token embeddings are corrupted with Gaussian noise (3 x the std of
subject-token embeddings), and the clean MLP output (a window of layers) or
residual stream (one layer) at the subject's last token is restored, one
layer at a time. The average indirect effect per layer, p(answer | restored)
- p(answer | corrupted), locates where the fact is recalled. All layers x
noise samples of one fact run as one batch.

    python -m editors.locate.causal_trace --model smollm2-135m --n 40
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from bench.arch import num_layers
from bench.data import resolve_data_dir
from bench.errors import BenchError
from bench.models import load_model
from bench.scoring import Batch, Prepared, Scorer
from editors.locate.hooks import BLOCK, EMBED, forward, hooked
from editors.locate.requests import EditRequest, lookup_index


def known_facts(scorer: Scorer, path: Path, n: int, chunk: int = 32) -> list[dict]:
    """The first `n` facts whose answer's first token the model predicts (teacher-forced argmax)."""
    records, facts = json.loads(path.read_text()), []
    for lo in range(0, len(records), chunk):
        part = records[lo:lo + chunk]
        scores = scorer.score([Prepared(r["prompt"], r["attribute"]) for r in part])
        facts += [r for r, s in zip(part, scores) if s.pred_ids[:1] == s.target_ids[:1]]
        if len(facts) >= n:
            break
    return facts[:n]


def subject_span(scorer: Scorer, record: dict) -> tuple[list[int], int, int, int]:
    """(prompt ids, first subject token, last subject token, first answer token id)."""
    encoded = scorer.encode(Prepared(record["prompt"], record["attribute"]))
    prompt_len = encoded.target_start
    start = record["prompt"].index(record["subject"])
    request = EditRequest(record["prompt"], record["subject"], "", record["prompt"][:start + len(record["subject"])])
    last = lookup_index(scorer, encoded, "", request, prompt_len)
    head = scorer.tokenizer(record["prompt"][:start]).input_ids if start else []
    first = 0
    while first < min(len(head), last) and head[first] == encoded.ids[first]:
        first += 1
    return encoded.ids[:prompt_len], first, last, encoded.ids[prompt_len]


@torch.no_grad()
def trace_fact(model, record_span, noise: torch.Tensor, kind: str, window: int) -> torch.Tensor:
    """(n_layers,) mean p(answer) when restoring `kind` ('mlp' or 'block') at each layer, minus corrupted."""
    ids, first, last, answer = record_span
    n_layers, n_noise = num_layers(model), noise.shape[0]
    rows = 1 + n_noise * (n_layers + 1)  # clean, corrupted, then corrupted + restored per layer
    input_ids = torch.tensor([ids] * rows, device=next(model.parameters()).device)
    noise_of_row = torch.arange(rows - 1) % n_noise
    restore_layer = torch.cat([torch.full((n_noise,), -10**6), torch.arange(n_layers).repeat_interleave(n_noise)])
    part = "mlp_out" if kind == "mlp" else BLOCK
    half = window // 2 if kind == "mlp" else 0

    def edit(site, out):
        out = out.clone()
        if site[1] == EMBED:
            out[1:, first:last + 1] += noise[noise_of_row].to(out.dtype)
            return out
        layer = site[0]
        if kind == "mlp":
            mask = (restore_layer - half <= layer) & (layer < restore_layer - half + window)
        else:
            mask = restore_layer == layer
        hit = 1 + torch.nonzero(mask)[:, 0]
        out[hit, last] = out[0, last]
        return out

    sites = [(0, EMBED)] + [(layer, part) for layer in range(n_layers)]
    positions = torch.arange(len(ids), device=input_ids.device).expand(rows, -1)
    batch = Batch(input_ids, torch.ones_like(input_ids), positions, [None] * rows, [0] * rows)
    with hooked(model, sites, edit_output=edit):
        logits = forward(model, batch, n_keep=1)
    probs = torch.softmax(logits[:, -1].float(), -1)[:, answer]
    corrupted = probs[1:1 + n_noise].mean()
    return probs[1 + n_noise:].reshape(n_layers, n_noise).mean(1) - corrupted


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--n", type=int, default=40, help="known facts to trace")
    p.add_argument("--noise-samples", type=int, default=3)
    p.add_argument("--window", type=int, default=0, help="MLP restore window (0: 10 layers of 48, scaled)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="write the per-layer effects as JSON here")
    args = p.parse_args(argv)
    lm = load_model(args.model, device="cpu")
    scorer = Scorer(lm.model, lm.tokenizer)
    facts = known_facts(scorer, resolve_data_dir(args.data_dir) / "rome" / "known_1000.json", args.n)
    if not facts:
        raise BenchError(f"{args.model} predicts none of the known facts' answers; nothing to trace")
    spans = [subject_span(scorer, f) for f in facts]
    embed = lm.model.get_input_embeddings().weight
    sigma = 3 * embed[torch.tensor([i for s in spans for i in s[0][s[1]:s[2] + 1]])].float().std().item()
    n_layers = num_layers(lm.model)
    window = args.window or max(1, round(10 * n_layers / 48))
    gen = torch.Generator().manual_seed(args.seed)
    effects = {"mlp": torch.zeros(n_layers), "block": torch.zeros(n_layers)}
    for i, span in enumerate(spans):
        noise = sigma * torch.randn(args.noise_samples, span[2] - span[1] + 1, embed.shape[1], generator=gen)
        for kind in effects:
            effects[kind] += trace_fact(lm.model, span, noise, kind, window) / len(spans)
        print(f"[trace] {i + 1}/{len(spans)} {facts[i]['subject']!r}", file=sys.stderr)
    print(f"{len(spans)} known facts of {args.model}; noise 3 sigma = {sigma:.4f}; MLP window {window}")
    print("layer  AIE(mlp window)  AIE(residual)")
    for layer in range(n_layers):
        print(f"{layer:5d}  {effects['mlp'][layer]:15.4f}  {effects['block'][layer]:13.4f}")
    print(f"peak MLP layer: {int(effects['mlp'].argmax())}")
    if args.out:
        Path(args.out).write_text(json.dumps({k: v.tolist() for k, v in effects.items()} | {
            "model": args.model, "n_facts": len(spans), "window": window, "noise_sigma": sigma}, indent=1))


if __name__ == "__main__":
    main()
