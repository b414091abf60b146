"""`python -m bench train serac`: train SERAC's scope classifier, then its counterfactual model (paper Eqs. 2, 3).

Data: CounterFact train + ZsRE train, minus every case that overlaps an evaluation set (data.py). Phase 1 fits
the embedding classifier (scope.py) on (edit, query) pairs by full-batch Adam; phase 2 trains the counterfactual
LoRA adapter (counterfactual.py) on "edit: <edit> query: <query>" -> new answer with Adam at a constant rate,
gradients clipped at 100, batches of 10 (the authors' settings: EasyEdit hparams/TRAINING/SERAC/llama-7b.yaml
lines 42 `opt: Adam`, 44 `grad_clip: 100.`, 37 `batch_size: 10`; their lr 1e-5 (line 17) is for fine-tuning a whole
model, an adapter needs a larger one). Saves every `--save-every` steps and on SIGINT/SIGTERM; `--resume`
continues from the last save to the same weights an uninterrupted run reaches (same batches, same Adam state).
"""

from __future__ import annotations

import argparse
import logging
import random
import signal
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from bench.data.overlap import EvalTexts
from bench.encoder import DEFAULT_ENCODER
from bench.errors import BenchError
from bench.optim import minimize, optimizer_tensors, restore_optimizer
from bench.scoring import Encoded, Scorer
from editors.ft.objectives import encode_rows, target_new_nll
from editors.instructed.plot import read_losses, write_losses
from editors.lora.hooked import HookedLoRA
from editors.lora.targets import target_modules
from editors.serac import checkpoint as ckpt
from editors.serac.counterfactual import AdapterShape
from editors.serac.data import counterfactual_examples, training_cases
from editors.serac.pairs import Pairs, build_pairs, pair_tensors, split_by_group, validate
from editors.serac.scope import EmbeddingScope, scope_loss

log = logging.getLogger(__name__)

LOSS_COLUMNS = ("step", "lr", "loss")
RESUME_MAY_CHANGE = ("steps", "save_every", "device")  # what a resumed run may set anew


@dataclass(frozen=True)
class TrainConfig:
    """The flags of `parse_args`, same names; a resumed run takes them from the checkpoint's config.json."""

    model: str = "smollm2-135m"
    out: str = ""
    data: str = "counterfact-train,zsre-train"
    data_dir: str | None = None
    limit: int = 1000
    no_overlap_filter: bool = False
    encoder: str = DEFAULT_ENCODER
    seed: int = 0
    threshold: float = 0.5
    scope_epochs: int = 300
    scope_lr: float = 1e-2
    val_fraction: float = 0.1
    parts: str = AdapterShape.parts
    rank: int = AdapterShape.rank
    alpha: int = AdapterShape.alpha
    steps: int = 150
    batch_size: int = 10
    lr: float = 1e-3
    grad_clip: float = 100.0
    save_every: int = 50
    device: str = "cpu"
    dtype: str = "float32"


def parse_args(argv: list[str]) -> argparse.Namespace:
    d = TrainConfig()
    p = argparse.ArgumentParser(prog="python -m bench train serac", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default=d.model)
    p.add_argument("--out", default=d.out, help="checkpoint folder (default: results/checkpoints/serac/<model>/)")
    p.add_argument("--data", default=d.data, help="comma-separated training dataset specs")
    p.add_argument("--data-dir", default=d.data_dir)
    p.add_argument("--limit", type=int, default=d.limit, help="cases per dataset after the overlap filter; 0: all")
    p.add_argument("--no-overlap-filter", action="store_true",
                   help="keep training cases that share a prompt (any role) or rewrite with an evaluation set")
    p.add_argument("--encoder", default=d.encoder, help="the frozen sentence encoder under the scope classifier")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threshold", type=float, default=d.threshold, help="in-scope probability that routes a query")
    p.add_argument("--scope-epochs", type=int, default=d.scope_epochs, help="full-batch Adam steps, classifier")
    p.add_argument("--scope-lr", type=float, default=d.scope_lr)
    p.add_argument("--val-fraction", type=float, default=d.val_fraction, help="edits held out from the classifier")
    p.add_argument("--parts", default=d.parts, help="projections that get the counterfactual adapter")
    p.add_argument("--rank", type=int, default=d.rank)
    p.add_argument("--alpha", type=int, default=d.alpha)
    p.add_argument("--steps", type=int, default=d.steps, help="counterfactual-model optimizer steps")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate of the adapter")
    p.add_argument("--grad-clip", type=float, default=d.grad_clip)
    p.add_argument("--save-every", type=int, default=d.save_every, help="save every N steps (and on a signal)")
    p.add_argument("--device", default=d.device)
    p.add_argument("--dtype", default=d.dtype)
    p.add_argument("--resume", action="store_true", help="continue the checkpoint in --out (or the default "
                                                         "folder) from its last save")
    p.add_argument("--overwrite", action="store_true", help="replace an existing checkpoint")
    return p.parse_args(argv)


def fit_scope(pairs: Pairs, emb: torch.Tensor, idx: list[int], epochs: int, lr: float) -> EmbeddingScope:
    """Full-batch Adam on the balanced scope loss (the pairs' embeddings are fixed, so a batch is all of them)."""
    u, v, y = pair_tensors(pairs, emb, idx)
    scope = EmbeddingScope(emb.shape[1])
    minimize(lambda: scope_loss(scope.log_sim(u, v), y), torch.optim.Adam(scope.parameters(), lr=lr), epochs, 0.0)
    return scope.eval()


def batch_rows(n: int, step: int, size: int, seed: int) -> list[int]:
    """The example indices of optimizer step `step`: consecutive slices of a fresh permutation per epoch, a
    pure function of the step, so a resumed run sees the batches an uninterrupted one would."""
    out = []
    for k in range(step * size, (step + 1) * size):
        epoch, pos = divmod(k, n)
        order = list(range(n))
        random.Random(seed * 1000 + epoch).shuffle(order)
        out.append(order[pos])
    return out


class CounterfactualTrainer:
    """Phase 2: the adapter's optimizer steps, with saves and a stop on signal."""

    def __init__(self, cfg: TrainConfig, lm, adapter: HookedLoRA, rows: list[Encoded], info: ckpt.SeracInfo,
                 out: Path):
        self.cfg, self.lm, self.adapter, self.rows, self.info, self.out = cfg, lm, adapter, rows, info, out
        self.scorer = Scorer(lm.model, lm.tokenizer)
        self.optimizer = torch.optim.Adam(adapter.parameters(), lr=cfg.lr)
        self.history = read_losses(out)[:info.steps_done] if info.steps_done else []
        self.stop_requested = False

    def step(self, step: int) -> float:
        chosen = [self.rows[i] for i in batch_rows(len(self.rows), step, self.cfg.batch_size, self.cfg.seed)]
        with self.adapter.active(self.lm.model):
            loss = target_new_nll(self.scorer, chosen)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.adapter.parameters(), self.cfg.grad_clip)
        self.optimizer.step()
        return float(loss.detach())

    def run(self, max_steps: int = 0) -> bool:
        """Train to `cfg.steps` (or `max_steps` more); True when complete."""
        from tqdm import tqdm

        bar = tqdm(range(self.info.steps_done, self.cfg.steps), desc="counterfactual model", file=sys.stderr,
                   initial=self.info.steps_done, total=self.cfg.steps)
        for taken, step in enumerate(bar, 1):
            loss = self.step(step)
            self.info.steps_done = step + 1
            self.history.append({"step": step + 1, "lr": self.cfg.lr, "loss": loss})
            bar.set_postfix(loss=f"{loss:.3f}")
            if self.stop_requested or (max_steps and taken >= max_steps):
                self.save()
                return False
            if self.cfg.save_every and self.info.steps_done % self.cfg.save_every == 0:
                self.save()
        self.save()
        return True

    def save(self) -> None:
        ckpt.save(self.out, self.info, counterfactual=self.adapter.tensors(),
                  optimizer=optimizer_tensors(self.optimizer, self.adapter))
        write_losses(self.out, self.history, LOSS_COLUMNS)

    def request_stop(self, signum, _frame) -> None:
        log.warning("signal %d: saving after this step", signum)
        self.stop_requested = True


def main(argv: list[str] | None = None, encoder=None, max_steps: int = 0) -> int:
    """Train and save; `encoder` (anything with .name and .encode(texts)) replaces --encoder, `max_steps` stops
    after that many counterfactual steps (as a signal would): both for tests."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return _main(args, encoder, max_steps)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _main(args: argparse.Namespace, encoder, max_steps: int) -> int:
    from bench.editor import Resources
    from bench.models import load_model

    out = Path(args.out) if args.out else ckpt.default_checkpoint_dir(args.model)
    info = ckpt.read_info(out) if args.resume and (out / ckpt.INFO).is_file() else None
    if info is None and (out / ckpt.INFO).is_file() and not args.overwrite:
        raise BenchError(f"{out} already holds a SERAC checkpoint; pass --resume to continue it, --overwrite to "
                         "replace it, or --out DIR")
    flags = {f.name: getattr(args, f.name) for f in fields(TrainConfig)}
    kept = {k: v for k, v in (info.hyper if info else {}).items() if k not in RESUME_MAY_CHANGE}
    cfg = TrainConfig(**{**flags, **kept})  # a resumed run keeps its data and settings, not its length
    torch.manual_seed(cfg.seed)
    lm = load_model(cfg.model, device=cfg.device, dtype=cfg.dtype)
    exclude = None if cfg.no_overlap_filter else EvalTexts.load(cfg.data_dir)
    specs = [s.strip() for s in cfg.data.split(",") if s.strip()]
    data = training_cases(specs, cfg.data_dir, cfg.limit, cfg.seed, exclude)
    if not data.cases:
        raise BenchError("train serac: no training cases (check --data and --limit)")
    targets = target_modules(lm.model, cfg.parts, [])
    if info is None:
        info = ckpt.SeracInfo(model=lm.name, encoder=encoder.name if encoder else cfg.encoder,
                              threshold=cfg.threshold, parts=cfg.parts, rank=cfg.rank, alpha=cfg.alpha,
                              targets=targets, train_data=specs, seed=cfg.seed, hyper=asdict(cfg),
                              total_steps=cfg.steps,
                              exclusion=data.exclusion.to_json() if data.exclusion else {})
    info.total_steps, info.hyper = cfg.steps, asdict(cfg)
    if not info.scope_done:
        encoder = encoder or Resources(encoder_name=cfg.encoder).encoder()
        train_scope(cfg, data.cases, encoder, info, out)
    adapter = HookedLoRA(lm.model, targets, cfg.rank, cfg.alpha, cfg.seed)
    rows = encode_rows(Scorer(lm.model, lm.tokenizer), counterfactual_examples(data.cases))
    trainer = CounterfactualTrainer(cfg, lm, adapter, rows, info, out)
    if info.steps_done:
        adapter.load_tensors(ckpt.load_tensors(out, ckpt.COUNTERFACTUAL))
        restore_optimizer(trainer.optimizer, adapter, ckpt.load_tensors(out, ckpt.OPTIMIZER) or {})
    log.info("%s: %d cases, %d counterfactual examples, adapter rank %d on %s (%d modules), step %d -> %d",
             lm.name, len(data.cases), len(rows), cfg.rank, cfg.parts, len(targets), info.steps_done, cfg.steps)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, trainer.request_stop)
    started = time.time()
    done = trainer.run(max_steps)
    log.info("%s after %.0fs; checkpoint in %s", "done" if done else "paused", time.time() - started, out)
    return 0 if done else 130


def train_scope(cfg: TrainConfig, cases, encoder, info: ckpt.SeracInfo, out: Path) -> None:
    """Phase 1: embed the pairs' texts once, fit and validate the classifier, save it (resumes skip this)."""
    started = time.time()
    pairs, emb = build_pairs(cases, encoder.encode, seed=cfg.seed)
    train_idx, val_idx = split_by_group(pairs, cfg.val_fraction, cfg.seed)
    scope = fit_scope(pairs, emb, train_idx, cfg.scope_epochs, cfg.scope_lr)
    info.scope_val = validate(lambda u, v: scope.log_sim(u, v).exp(), pairs, emb, val_idx, cfg.threshold)
    info.scope_done = True
    ckpt.save(out, info, scope=scope.state_dict())
    log.info("scope classifier: %d pairs (%d in scope), validation %s, %.0fs", len(pairs.label),
             int(sum(pairs.label)), info.scope_val, time.time() - started)
