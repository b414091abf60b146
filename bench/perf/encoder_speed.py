"""The sentence encoder through sentence-transformers vs the hand-pooled path it replaced, on CounterFact prompts.

Prints the largest absolute embedding difference (the swap must not move retrieval: target <= 1e-5) and the
speed ratio hand-pooled / sentence-transformers, both measured in this one run on the same prompts.

    python -m bench.perf.encoder_speed --prompts 2000 --threads 1
"""

from __future__ import annotations

import argparse
import time

import torch

from bench.data import load_dataset
from bench.encoder import DEFAULT_ENCODER, SentenceEncoder, encoder_path


class HandPooled:
    """The former bench/encoder.py: AutoModel, mean pooling over non-pad tokens, L2 normalisation."""

    def __init__(self, path: str, device: str, batch_size: int):
        from transformers import AutoModel, AutoTokenizer

        self.batch_size, self.device = batch_size, torch.device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModel.from_pretrained(path, local_files_only=True).to(self.device).eval()

    @torch.no_grad()
    def encode(self, texts: list[str]) -> torch.Tensor:
        chunks = []
        for lo in range(0, len(texts), self.batch_size):
            enc = self.tokenizer(texts[lo:lo + self.batch_size], padding=True, truncation=True,
                                 max_length=256, return_tensors="pt").to(self.device)
            hidden = self.model(**enc).last_hidden_state
            mask = enc["attention_mask"][..., None].to(hidden.dtype)
            chunks.append(((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)).float().cpu())
        return torch.nn.functional.normalize(torch.cat(chunks), dim=-1)


def prompts(dataset: str, n: int) -> list[str]:
    """The first `n` distinct query prompts, in file order (what IKE, SERAC and InstructEd embed)."""
    seen: dict[str, None] = {}
    for case in load_dataset(dataset):
        for query in case.queries:
            seen.setdefault(query.prompt, None)
            if len(seen) == n:
                return list(seen)
    return list(seen)


def timed(encode, texts: list[str]) -> tuple[torch.Tensor, float]:
    encode(texts[:8])  # warm-up
    t0 = time.perf_counter()
    out = encode(texts)
    return out, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default=DEFAULT_ENCODER)
    parser.add_argument("--dataset", default="counterfact")
    parser.add_argument("--prompts", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    texts = prompts(args.dataset, args.prompts)
    new = SentenceEncoder(args.encoder, args.device, args.batch_size)
    old = HandPooled(encoder_path(args.encoder), args.device, args.batch_size)
    ref, t_old = timed(old.encode, texts)
    emb, t_new = timed(new.encode, texts)
    cos = (emb * ref).sum(-1)
    print(f"encoder={args.encoder} device={args.device} prompts={len(texts)} batch={args.batch_size} "
          f"threads={torch.get_num_threads()}")
    print(f"max |embedding difference| = {(emb - ref).abs().max().item():.2e}; "
          f"min cosine(new, old) = {cos.min().item():.8f}")
    print(f"hand-pooled: {t_old:.2f}s   sentence-transformers: {t_new:.2f}s   speed ratio: {t_old / t_new:.2f}x")


if __name__ == "__main__":
    main()
