"""`python -m bench train instructed ...`: train InstructEd's prefixes on a frozen model.

Default recipe `authors` (config.Recipe: the authors' finetuning.py): AdamW with lr 9e-3 * batch/256,
betas (0.9, 0.95), weight decay 0.02, batches of 6 edit + 6 locality examples, 10 epochs with 40% of the
steps warming up (then half-cosine decay), CounterFact train (10,000) + the MQuAKE-CF train side, minus
every record that overlaps an evaluation dataset (overlap.py). Only the prefixes (or adapters) get
gradients; the base model stays in eval mode. Training saves every `--save-every` steps and on
SIGINT/SIGTERM; `--resume` continues from the last save exactly (same batches, same optimizer state).
`--loc-target base` (our departure, not in the paper) trains locality examples toward the unedited
model's own predictions instead of the true labels, which a small model often does not know.
"""

from __future__ import annotations

import argparse
import logging
import math
import random
import signal
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path

import torch

from bench.arch import hidden_size, num_layers, scaled_layer_range
from bench.data import load_dataset
from bench.data.splits import mquake_split
from bench.editor import Resources
from bench.errors import BenchError
from bench.optim import optimizer_tensors, restore_optimizer
from bench.scoring import Batch, Encoded, Prepared, Scorer
from editors.instructed import checkpoint as ckpt
from editors.instructed.attention import forward_context
from editors.instructed.config import (
    COMPATS,
    DEFAULT_RECIPE,
    DEPTHS,
    PAPER_LAYERS,
    RECIPES,
    VARIANTS,
)
from editors.instructed.data import Pair, build_pairs, locality_pool, select_cases
from editors.instructed.instructions import Spanner, format_prompt
from editors.instructed.overlap import EvalTexts, Exclusion, record_overlaps
from editors.instructed.plot import plot_losses, read_losses, write_losses
from editors.instructed.prefix import PrefixBank
from editors.instructed.trained_cases import describe as describe_trained

log = logging.getLogger(__name__)

DEFAULT_DATA = "counterfact-train,mquake"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench train instructed", description=__doc__.split("\n")[0])
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.add_argument("--allow-hub", action="store_true",
                   help="download a --model or --encoder that is not offline from the Hugging Face hub "
                        "(never tried otherwise)")
    p.add_argument("--dtype", default="float32", help="model dtype (the trained tensors stay float32)")
    p.add_argument("--out", default="", help="checkpoint folder (default: results/checkpoints/instructed/<model>/)")
    p.add_argument("--data", default=DEFAULT_DATA, help="comma-separated dataset specs (MQuAKE: its train side)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--mquake-train-fraction", type=float, default=0.5)
    p.add_argument("--recipe", default=DEFAULT_RECIPE, choices=tuple(RECIPES),
                   help="optimiser setting: authors (their finetuning.py, the default) or ours-v1 (this harness's "
                        "first: lr 9e-3 absolute, betas 0.9/0.999); the flags below override single values")
    p.add_argument("--epochs", type=int, default=None, help="default: the recipe's (10)")
    p.add_argument("--max-examples", type=int, default=0, help="records used (each gives an edit and a locality "
                                                                 "example); 0: all")
    p.add_argument("--batch-size", type=int, default=None, help="edit examples per batch (+ as many loc); "
                                                                "default: the recipe's (6)")
    p.add_argument("--lr", type=float, default=None, help="absolute learning rate; default: the recipe's "
                                                          "(authors: 9e-3 * batch / 256)")
    p.add_argument("--weight-decay", type=float, default=None)
    p.add_argument("--warmup", type=float, default=None, help="fraction of steps warming up (default 0.4)")
    p.add_argument("--save-every", type=int, default=100, help="save the checkpoint every N steps (and at each "
                                                               "epoch end, and on SIGINT/SIGTERM)")
    p.add_argument("--no-overlap-filter", action="store_true",
                   help="keep training records that share a prompt (any role) or rewrite with an evaluation set")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--layers", default="", help="e.g. 10:20, 3,4,5, or late (Table 4's 20-30 of 32, scaled); "
                                                 "default: 10-20 of 32, scaled")
    p.add_argument("--n-prefix", type=int, default=5)
    p.add_argument("--variant", default="attn", choices=VARIANTS)
    p.add_argument("--reweight", default="on", choices=("on", "off"))
    p.add_argument("--scaling", default=None, choices=ckpt.SCALINGS,
                   help="Eq. 15 on the query rows (the authors' code; the default since 2026-12-07, "
                        "results/instructed-scaling) or on key columns (the paper's text)")
    p.add_argument("--compat", default=None, choices=COMPATS,
                   help="the older spelling of --scaling that commands before 2026-12-07 use: paper trains rows, "
                        "strict columns")
    p.add_argument("--encoder", default="all-MiniLM-L6-v2")
    p.add_argument("--loc-target", default="gold", choices=("gold", "base"),
                   help="locality answers: gold (the paper) or the unedited model's own teacher-forced "
                        "predictions on the plain prompt (what Loc measures; for models that miss the gold)")
    p.add_argument("--resume", action="store_true", help="continue the checkpoint in --out (or the default folder) "
                                                         "from its last save")
    p.add_argument("--resume-from", default="", help="continue a checkpoint (its data and settings are reused)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing checkpoint in --out")
    return p.parse_args(argv)


def parse_layers(text: str, model) -> list[int]:
    if not text or text in DEPTHS:
        return scaled_layer_range(model, *DEPTHS[text or "middle"])
    if ":" in text:
        lo, hi = text.split(":")
        return list(range(int(lo), int(hi)))
    return [int(x) for x in text.split(",") if x]


@dataclass
class EncodedPair:
    """An encoded training example pair (edit, locality)."""

    edit: Encoded
    loc: Encoded
    loc_labels: list[int] | None = None  # --loc-target base: the unedited model's argmax per answer token


def load_pairs(specs: list[str], data_dir, fraction: float, seed: int, max_examples: int,
               exclude: EvalTexts | None = None) -> tuple[list[Pair], Exclusion | None]:
    """Training records from each spec (MQuAKE: only its train side) without those that overlap `exclude`,
    shuffled with `seed`, capped; and what the overlap filter removed."""
    loaded = [(spec, load_dataset(spec, data_dir)) for spec in specs]
    pool = [q for _, cases in loaded for q in locality_pool(cases)]
    pool_before = len(pool)
    if exclude is not None:
        pool = exclude.clean_pool(pool)
    pairs: list[Pair] = []
    removed = 0
    for spec, cases in loaded:
        if spec.split(":")[0] == "mquake":
            cases = select_cases(cases, mquake_split([c.case_id for c in cases], fraction)[0])
        for case, pair in zip(cases, build_pairs(cases, pool, seed)):
            if exclude is not None and record_overlaps(exclude, pair, [e.sentence for e in case.edits]):
                removed += 1
                continue
            pairs.append(pair)
    random.Random(seed).shuffle(pairs)
    exclusion = (Exclusion(exclude.datasets, removed, len(pairs), pool_before - len(pool))
                 if exclude is not None else None)
    return (pairs[:max_examples] if max_examples else pairs), exclusion


@dataclass(frozen=True)
class TrainConfig:
    """The settings of one training run, built once by `train_config` from the parsed command line (the flags
    of `parse_args`, same names), a resumed checkpoint's settings and the recipe's defaults; never changed."""

    model: str
    device: str
    allow_hub: bool
    dtype: str
    out: str
    data: str
    data_dir: str | None
    mquake_train_fraction: float
    recipe: str
    epochs: int
    max_examples: int
    batch_size: int
    lr: float
    weight_decay: float
    warmup: float
    betas: tuple[float, ...]  # not a flag: the recipe's, or a resumed checkpoint's
    save_every: int
    no_overlap_filter: bool
    seed: int
    layers: str
    n_prefix: int
    variant: str
    reweight: str
    scaling: str
    encoder: str
    loc_target: str
    resume: bool
    resume_from: str
    overwrite: bool


def train_config(args: argparse.Namespace, adopted: ckpt.CheckpointInfo | None = None) -> TrainConfig:
    """The run's settings: `args` (not changed), with a resumed checkpoint's model, data and shape settings when
    `adopted` (only --epochs/--device/--out vary), and the optimiser flags left unset filled from `--recipe`
    (authors: lr scaled by batch/256)."""
    values = {"betas": None, **vars(args), "scaling": _scaling(args)}
    if adopted is not None:
        values.update(_adopted(adopted))
    recipe = RECIPES[values["recipe"]]
    for key, value in (("epochs", recipe.epochs), ("batch_size", recipe.batch),
                       ("weight_decay", recipe.weight_decay), ("warmup", recipe.warmup)):
        if values[key] is None:
            values[key] = value
    if values["lr"] is None:
        values["lr"] = recipe.lr(values["batch_size"])
    values["betas"] = tuple(recipe.betas if values["betas"] is None else values["betas"])
    cfg = TrainConfig(**{f.name: values[f.name] for f in fields(TrainConfig)})
    if cfg.batch_size < 1 or cfg.epochs < 1 or not (0 <= cfg.warmup < 1) or not cfg.lr > 0:
        raise BenchError(f"train instructed: need --batch-size >= 1, --epochs >= 1, 0 <= --warmup < 1 and "
                         f"--lr > 0 (got {cfg.batch_size}, {cfg.epochs}, {cfg.warmup}, {cfg.lr})")
    return cfg


def _scaling(args: argparse.Namespace) -> str:
    """--scaling, else what --compat (its older spelling) trains, else the default; the two must agree."""
    implied = ckpt.scaling_of(args.compat) if args.compat else None
    if args.scaling and implied and args.scaling != implied:
        raise BenchError(f"train instructed: --compat {args.compat} trains scaling={implied}, but --scaling "
                         f"{args.scaling} was given; pass one of them")
    return args.scaling or implied or ckpt.DEFAULT_SCALING


def encode_pairs(pairs: list[Pair], scorer: Scorer, spanner: Spanner, encoder) -> list[EncodedPair]:
    """Token ids and per-row meta (span, sim) of every example, sims from one encoder pass."""
    texts = sorted({t for p in pairs for ex in (p.edit, p.loc) for t in (ex.instruction, ex.question)})
    emb = dict(zip(texts, encoder.encode(texts)))

    def one(ex) -> Encoded:
        meta = spanner.meta(ex.instruction, ex.question, float(emb[ex.instruction] @ emb[ex.question]))
        return scorer.encode(Prepared(format_prompt(ex.instruction, ex.question), ex.answer, meta))

    return [EncodedPair(one(p.edit), one(p.loc)) for p in pairs]


def add_base_locality_labels(examples: list[EncodedPair], pairs: list[Pair], scorer: Scorer) -> None:
    """Label each locality answer token with the unedited model's teacher-forced argmax on the plain
    prompt, so training asks for exactly what the Loc metric compares (one no-grad pass)."""
    scores = scorer.score([Prepared(p.loc.question, p.loc.answer) for p in pairs], progress="base locality labels")
    for example, score in zip(examples, scores):
        if len(score.pred_ids) == len(example.loc.ids) - example.loc.target_start:
            example.loc_labels = score.pred_ids


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up, then half-cosine decay to 0 (the MAE/LLaMA-Adapter schedule the authors use)."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def batch_loss(model, batch: Batch, items: list[Encoded], context,
               targets: list[list[int] | None] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy over answer tokens (labels: the answer itself, or `targets[r]` where given),
    and the per-row mean (for edit/locality curves)."""
    n_keep = max(len(e.ids) - e.target_start for e in items) + 1
    labels = torch.full((len(items), n_keep), -100, dtype=torch.long, device=batch.input_ids.device)
    for r, e in enumerate(items):
        n_t = len(e.ids) - e.target_start
        row = targets[r] if targets and targets[r] is not None else e.ids[e.target_start:]
        labels[r, n_keep - 1 - n_t:n_keep - 1] = torch.tensor(row, device=labels.device)
    with context(batch):
        logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                       position_ids=batch.position_ids, logits_to_keep=n_keep, use_cache=False).logits
    token_loss = torch.nn.functional.cross_entropy(
        logits.float().flatten(0, 1), labels.flatten(), ignore_index=-100, reduction="none").view(labels.shape)
    counts = (labels != -100).sum(1).clamp(min=1)
    return token_loss.sum() / counts.sum(), (token_loss.sum(1) / counts).detach()


class Trainer:
    def __init__(self, cfg: TrainConfig, lm, bank: PrefixBank, info: ckpt.CheckpointInfo,
                 examples: list[EncodedPair], trained: ckpt.TrainedCases, out: Path):
        self.cfg, self.lm, self.bank, self.info, self.examples, self.trained, self.out = (
            cfg, lm, bank, info, examples, trained, out)
        self.scorer = Scorer(lm.model, lm.tokenizer)
        self.context = forward_context(lm.model, bank, info.reweight, info.scaling == "rows")
        self.optimizer = torch.optim.AdamW(bank.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay,
                                           betas=cfg.betas)
        self.history: list[dict] = read_losses(out)[:info.steps_done] if info.steps_done else []
        self.stop_requested = False

    def run(self, epochs: int, max_steps: int = 0) -> bool:
        """Train to the end of epoch `epochs` (or `max_steps` more steps); True when training is complete."""
        from tqdm import tqdm

        size = self.cfg.batch_size
        per_epoch = math.ceil(len(self.examples) / size)
        total, warmup = epochs * per_epoch, max(1, round(self.cfg.warmup * epochs * per_epoch))
        step, start, seen, taken = self.info.steps_done, time.time(), 0, 0
        self.info.hyper["epochs"] = epochs
        for epoch in range(self.info.epochs_done, epochs):
            order = list(range(len(self.examples)))
            random.Random(self.info.seed * 1000 + epoch).shuffle(order)
            first = self.info.batches_done if epoch == self.info.epochs_done else 0
            bar = tqdm(range(first * size, len(order), size), desc=f"epoch {epoch + 1}/{epochs}", file=sys.stderr,
                       initial=first, total=per_epoch)
            for lo in bar:
                rows = [self.examples[i] for i in order[lo:lo + size]]
                lr = self.cfg.lr * lr_factor(step, warmup, total)
                record = self.step(rows, lr)
                step, seen, taken = step + 1, seen + 2 * len(rows), taken + 1
                self.info.steps_done, self.info.batches_done = step, lo // size + 1
                self.history.append({"step": step, "epoch": epoch + 1, "lr": lr, **record})
                bar.set_postfix(loss=f"{record['loss']:.3f}", lr=f"{lr:.2e}")
                if self.stop_requested or (max_steps and taken >= max_steps):
                    self.save()
                    plot_losses(self.out, self.history)  # a paused run shows its curve so far
                    return False
                if self.cfg.save_every and step % self.cfg.save_every == 0:
                    self.save()
            self.info.epochs_done, self.info.batches_done = epoch + 1, 0
            self.save()
        plot_losses(self.out, self.history)
        seconds = time.time() - start
        log.info("trained on %d examples in %.0fs (%.2f examples/s); checkpoint in %s", seen, seconds,
                 seen / max(seconds, 1e-9), self.out)
        return True

    def step(self, rows: list[EncodedPair], lr: float) -> dict:
        items = [r.edit for r in rows] + [r.loc for r in rows]
        targets = [None] * len(rows) + [r.loc_labels for r in rows]
        loss, per_row = batch_loss(self.lm.model, self.scorer.collate(items), items, self.context, targets)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        half = len(rows)
        return {"loss": float(loss.detach()), "edit_loss": float(per_row[:half].mean()),
                "loc_loss": float(per_row[half:].mean())}

    def save(self) -> None:
        optimizer = optimizer_tensors(self.optimizer, self.bank)
        ckpt.save(self.out, self.bank.state_dict(), self.info, self.trained, optimizer)
        write_losses(self.out, self.history)

    def request_stop(self, signum, _frame) -> None:
        """SIGINT/SIGTERM: finish the step under way, save, and exit (then `--resume` continues)."""
        log.warning("signal %d: saving after this step", signum)
        self.stop_requested = True


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return _main(args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _main(parsed: argparse.Namespace) -> int:
    from bench.models import load_model

    resume = _resume_dir(parsed)
    state = ckpt.load(resume) if resume else None
    cfg = train_config(parsed, state[1] if state else None)
    torch.manual_seed(cfg.seed)
    lm = load_model(cfg.model, device=cfg.device, dtype=cfg.dtype, allow_hub=cfg.allow_hub)
    layers = state[1].layers if state else parse_layers(cfg.layers, lm.model)
    default_layers = scaled_layer_range(lm.model, *PAPER_LAYERS)
    reweight = cfg.reweight == "on"
    tag = ckpt.ablation_tag(layers, default_layers, cfg.n_prefix, cfg.variant, reweight, cfg.scaling)
    out = Path(cfg.out) if cfg.out else (resume or ckpt.default_dir(lm.name, tag))
    if not resume and (out / ckpt.WEIGHTS).exists() and not cfg.overwrite:
        raise BenchError(f"{out} already holds a checkpoint; pass --resume to continue it, "
                         f"--overwrite to replace it, or --out DIR")
    specs = [s.strip() for s in cfg.data.split(",") if s.strip()]
    exclude = None if cfg.no_overlap_filter else EvalTexts.load(cfg.data_dir)
    pairs, exclusion = load_pairs(specs, cfg.data_dir, cfg.mquake_train_fraction, cfg.seed, cfg.max_examples,
                                  exclude)
    if not pairs:
        raise BenchError("no training examples (check --data and --max-examples)")
    if state:
        check_same_records(resume, state[1].exclusion, exclusion)
    encoder = Resources(encoder_name=cfg.encoder, device=str(lm.device), allow_hub=cfg.allow_hub).encoder()
    scorer = Scorer(lm.model, lm.tokenizer)
    sink_kept = state[1].sink_kept if state else True
    examples = encode_pairs(pairs, scorer, Spanner(lm.tokenizer, keep_sink=sink_kept), encoder)
    if cfg.loc_target == "base":
        add_base_locality_labels(examples, pairs, scorer)
    bank = PrefixBank.for_model(lm.model, layers, cfg.n_prefix, cfg.variant, cfg.seed)
    info = state[1] if state else _info(cfg, lm, layers, reweight, specs, len(pairs), exclusion)
    trained = describe_trained(pairs, cfg.data_dir)
    trainer = Trainer(cfg, lm, bank, info, examples, trained, out)
    if state:
        bank.load_state_dict(state[0])
        optim = ckpt.load_optimizer(resume)
        if optim:
            restore_optimizer(trainer.optimizer, bank, optim)
        elif info.epochs_done < cfg.epochs:  # a finished checkpoint resumed to its own end trains nothing
            log.warning("%s has no %s: AdamW's moments start again from zero, so the continued training will not "
                        "equal an uninterrupted one", resume, ckpt.OPTIMIZER)
    if exclusion:
        log.info("overlap filter: %d records removed, %d locality-pool prompts removed (evaluation sets: %s)",
                 exclusion.records_removed, exclusion.pool_removed, ", ".join(exclusion.datasets))
    log.info(f"{lm.name}: {len(pairs)} records -> {2 * len(pairs)} examples, layers {layers[0]}-{layers[-1]}, "
             f"{cfg.n_prefix} prefixes, variant {cfg.variant}, {bank.num_bytes()} trainable bytes, recipe "
             f"{cfg.recipe} (lr {cfg.lr:.3g}, betas {tuple(cfg.betas)}, batch {cfg.batch_size}), "
             f"epoch {info.epochs_done} step {info.steps_done} -> {cfg.epochs} epochs")
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, trainer.request_stop)
    done = trainer.run(cfg.epochs)
    return 0 if done else 130


def check_same_records(resume: Path, recorded: dict, now: Exclusion | None) -> None:
    """A resumed training must see the records it started with: its seeded batch order indexes them. The overlap
    filter changed on 2026-12-06 (prompts compared across roles), so a checkpoint started before keeps its records
    only with the code it started with."""
    if not recorded or now is None:
        return
    kept = recorded.get("records_kept")
    if kept is not None and kept != now.records_kept:
        raise BenchError(f"--resume: {resume} trained on {kept} records, and this code's overlap filter keeps "
                         f"{now.records_kept}: the batches would no longer be the ones it started with. Continue it "
                         "with the commit that started it (its README names it), or train a new checkpoint.")


def _resume_dir(args: argparse.Namespace) -> Path | None:
    if args.resume_from:
        return Path(args.resume_from)
    if not args.resume:
        return None
    if not args.out:
        raise BenchError("--resume needs --out (the checkpoint folder to continue), or use --resume-from DIR")
    out = Path(args.out)
    return out if (out / ckpt.INFO).is_file() else None  # nothing saved yet: start it


def _adopted(info: ckpt.CheckpointInfo) -> dict:
    """A resumed run reuses the checkpoint's model, data and shape settings (only --epochs/--device/--out vary)."""
    hyper = info.hyper
    values = {"model": info.model, "seed": info.seed, "n_prefix": info.n_prefix, "variant": info.variant,
              "reweight": "on" if info.reweight else "off", "scaling": info.scaling, "encoder": info.encoder,
              "data": ",".join(info.train_data), "no_overlap_filter": not info.exclusion}
    for key in ("max_examples", "mquake_train_fraction", "batch_size", "lr", "weight_decay", "warmup", "loc_target",
                "recipe", "betas"):
        if key in hyper:
            values[key] = hyper[key]
    if "recipe" not in hyper:  # trained before recipes existed: what it used is ours-v1
        values["recipe"], values["betas"] = "ours-v1", list(RECIPES["ours-v1"].betas)
    return values


def _info(cfg: TrainConfig, lm, layers, reweight, specs, n_pairs, exclusion: Exclusion | None) -> ckpt.CheckpointInfo:
    hyper = {key: getattr(cfg, key) for key in ("recipe", "max_examples", "mquake_train_fraction", "batch_size",
                                                "lr", "betas", "weight_decay", "warmup", "epochs", "dtype",
                                                "loc_target")}
    hyper["betas"] = list(hyper["betas"])  # as written before TrainConfig (a JSON list either way)
    return ckpt.CheckpointInfo(
        model=lm.name, model_type=lm.model_type, hidden_size=hidden_size(lm.model), num_layers=num_layers(lm.model),
        layers=list(layers), n_prefix=cfg.n_prefix, variant=cfg.variant, reweight=reweight,
        compat=ckpt.compat_of(cfg.scaling), scaling=cfg.scaling, encoder=cfg.encoder, train_data=specs,
        seed=cfg.seed, hyper=hyper, n_examples=2 * n_pairs,
        sink_kept=True, exclusion=exclusion.to_json() if exclusion else {},
    )


if __name__ == "__main__":  # `python -m bench train instructed` is the documented way; this one logs the same
    logging.basicConfig(level=logging.INFO, format="[%(name)s] %(message)s")
    raise SystemExit(main())
