"""`python -m bench train serac-icl`: fit serac-icl's scope classifier on CounterFact/ZsRE training splits.

The classifier only sees sentence embeddings (frozen MiniLM by default), so it
does not depend on the base model; the checkpoint is filed under the model's
name because that is where `--editors serac-icl --model NAME` looks for it.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import torch

from bench.data import EditCase, load_dataset
from bench.encoder import DEFAULT_ENCODER, SentenceEncoder
from bench.optim import minimize
from editors.serac.pairs import Pairs, build_pairs, pair_tensors, split_by_group, validate
from editors.serac_icl.checkpoint import CHECKPOINT_FILE, default_checkpoint_dir
from editors.serac_icl.classifier import ScopeClassifier

log = logging.getLogger(__name__)

EVAL_SETS = "counterfact,counterfact-subject-replace,zsre,zsre-subject-replace,zsre-inverse"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench train serac-icl", description=__doc__.splitlines()[0])
    p.add_argument("--model", default="smollm2-135m", help="model whose checkpoint folder to write")
    p.add_argument("--out", default=None, help="output folder (default results/checkpoints/serac-icl/MODEL/)")
    p.add_argument("--data-dir", default=None, help="data dir (default $BENCH_DATA_DIR or ../shared/data)")
    p.add_argument("--datasets", default="counterfact-train,zsre-train")
    p.add_argument("--limit", type=int, default=2000, help="cases per dataset")
    p.add_argument("--exclude", default=EVAL_SETS,
                   help="datasets whose edit prompts must not be trained on (comma-separated; '' for none)")
    p.add_argument("--encoder", default=DEFAULT_ENCODER)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--epochs", type=int, default=400)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv: list[str], encoder=None) -> int:
    """Train and save; `encoder` (anything with .name and .encode(texts)) replaces --encoder, for tests."""
    args = parse_args(argv)
    started = time.time()
    cases = training_cases(args)
    encoder = encoder or SentenceEncoder(args.encoder)
    pairs, emb = build_pairs(cases, encoder.encode, seed=args.seed)
    log.info("%d cases, %d pairs (%d in scope), %d texts embedded in %.0fs", len(cases), len(pairs.label),
             int(sum(pairs.label)), len(pairs.texts), time.time() - started)
    train_idx, val_idx = split_by_group(pairs, args.val_fraction, args.seed)
    clf = fit(pairs, emb, train_idx, args)
    metrics = validate(lambda u, v: torch.sigmoid(clf(u, v)), pairs, emb, val_idx, args.threshold)
    out = default_checkpoint_dir(args.model) if args.out is None else Path(args.out)
    meta = {"encoder": encoder.name, "threshold": str(args.threshold), "key": "edit prompt",
            "datasets": args.datasets, "exclude": args.exclude, "limit": args.limit, "epochs": args.epochs,
            "lr": args.lr, "seed": args.seed, "n_pairs": len(pairs.label), "val": metrics}
    clf.save(out / CHECKPOINT_FILE, meta)
    log.info("validation %s; wrote %s in %.0fs", metrics, out / CHECKPOINT_FILE, time.time() - started)
    return 0


def training_cases(args) -> list[EditCase]:
    """The first `limit` cases of each training set whose edit prompt is in no evaluation set."""
    held_out = {c.edits[0].prompt for name in _names(args.exclude) for c in load_dataset(name, args.data_dir)}
    out = []
    for name in _names(args.datasets):
        kept = [c for c in load_dataset(name, args.data_dir) if c.edits[0].prompt not in held_out]
        out += kept[:args.limit]
    return out


def _names(spec: str) -> list[str]:
    return [n.strip() for n in spec.split(",") if n.strip()]


def fit(pairs: Pairs, emb: torch.Tensor, idx: list[int], args) -> ScopeClassifier:
    """Full-batch Adam on class-balanced binary cross-entropy."""
    u, v, y = pair_tensors(pairs, emb, idx)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(args.seed)
        clf = ScopeClassifier(emb.shape[1], args.hidden)
    pos = y.sum().clamp(min=1)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=(len(y) - pos) / pos)
    minimize(lambda: loss_fn(clf(u, v), y), torch.optim.Adam(clf.parameters(), lr=args.lr), args.epochs, 0.0)
    return clf.eval()
