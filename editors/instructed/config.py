"""Typed hyper-parameters of InstructEd (editor arguments; `--editor-args 'instructed:key=value'`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from bench.arch import scaled_layer_range
from bench.arguments import MAX_COUNT, arg, check_config
from bench.editor import EditorConfig
from editors.instructed import checkpoint as ckpt
from editors.instructed.retrieval import BACKGROUND

MODES = ("gold", "retrieval")
MEMORIES = ("auto", "dataset", "unit")
COMPATS = ("strict", "paper")
VARIANTS = ("attn", "ffn")
SINKS = ("auto", "kept", "scaled")
SIMILARITIES = ("auto", "fact", "instruction")

# The paper's training hyper-parameters (Sec. 4.1.2, App. B).
PAPER_LR = 9e-3  # the paper's "learning rate": the authors' *base* lr (finetuning.py --blr), see Recipe
PAPER_WEIGHT_DECAY = 0.02
PAPER_BATCH = 6  # edit examples per batch (plus as many locality examples)
PAPER_EPOCHS = 10
PAPER_WARMUP_FRACTION = 0.4  # 4 warm-up epochs of 10
PAPER_LAYERS = (10, 20, 32)  # layers 10-20 of a 32-layer model, scaled to the model's depth
# Named layer ranges (of a 32-layer model, scaled): the paper's middle layers and Table 4's "L:20-30" ablation.
DEPTHS = {"middle": PAPER_LAYERS, "late": (20, 30, 32)}


@dataclass(frozen=True)
class Recipe:
    """A training optimiser setting (`bench train instructed --recipe NAME`).

    `authors` is the authors' released finetuning.py (sev777/InstructED), value by value:
      - lr = blr * effective_batch / 256 (finetuning.py l.190-191, `args.lr = args.blr * eff_batch_size / 256`),
        blr 9e-3 (l.63-67 default), effective batch = batch_size * accum_iter * world size (l.188) = 6 * 1 * 1
        with the README's single-process command (`--batch_size 6`, accum_iter default 1, no launcher):
        2.11e-4. (The paper's App. B trains on 2 GPUs; under data parallelism the effective batch would be 12
        and the lr 4.2e-4.)
      - AdamW betas (0.9, 0.95) (l.208), weight decay 0.02 (l.59) on matrices (timm param_groups_weight_decay,
        l.207; the prefixes are matrices, so all of ours decay).
      - warm-up then half-cosine decay to min_lr 0, per iteration (engine_finetuning.py l.37-39, MAE's
        lr_sched.adjust_learning_rate): 4 warm-up epochs of 10 as the paper's App. B states (the released
        script's default --warmup_epochs is 40, which with 10 epochs never leaves warm-up; the README command
        does not set it), kept as a fraction (0.4) of the steps when fewer epochs are trained.
      - batch 6 records, each an edit and a locality example (dataloaders.py collate_fn: 6 + 6 rows);
        10 epochs (l.34); 5 prefixes (--adapter_len, l.52); locality examples target the true label
        (dataloaders.py: `locality_ground_truth`); one token-mean cross-entropy over both halves.
    `ours-v1` is what this harness used before (lr 9e-3 as an absolute value, Adam's default betas).
    """

    name: str
    base_lr: float
    scale_lr_by_batch: bool  # lr = base_lr * batch / 256 (the authors) or base_lr as is
    betas: tuple[float, float]
    weight_decay: float = PAPER_WEIGHT_DECAY
    batch: int = PAPER_BATCH
    epochs: int = PAPER_EPOCHS
    warmup: float = PAPER_WARMUP_FRACTION

    def lr(self, batch: int) -> float:
        return self.base_lr * batch / 256 if self.scale_lr_by_batch else self.base_lr


RECIPES = {
    "authors": Recipe("authors", base_lr=PAPER_LR, scale_lr_by_batch=True, betas=(0.9, 0.95)),
    "ours-v1": Recipe("ours-v1", base_lr=PAPER_LR, scale_lr_by_batch=False, betas=(0.9, 0.999)),
}
DEFAULT_RECIPE = "authors"


@dataclass
class InstructEdConfig(EditorConfig):
    """Evaluation-time settings. Shape settings (layers, n_prefix, variant) must match the checkpoint."""

    mode: str = arg("gold", choices=MODES,
                    help="gold: the case's own instruction; retrieval: from the memory of edits made so far")
    # dataset: every edit of the run's cases, as the authors' evals_with_ret.py (make_mem(ann) over the whole file);
    # unit: only the edits made so far (one edit under the single protocol; the setting of Table 2 before 2026-12-06);
    # auto: dataset, except under the sequential protocol, where a stream may only recall the edits it has made
    memory: str = arg("auto", choices=MEMORIES,
                      help="retrieval memory: every edit of the run (dataset), edits made so far (unit), auto "
                           "(unit if sequential)")
    compat: str = arg("strict", choices=COMPATS,
                      help="strict: the paper's text; paper: the authors' code (docs/architecture.md section 5)")
    # auto: as the checkpoint was trained (its config.json names it), so a checkpoint is evaluated as trained under
    # either compat; without one, the default (rows since 2026-12-07, checkpoint.DEFAULT_SCALING)
    scaling: str = arg("auto", choices=("auto", *ckpt.SCALINGS),
                       help="Eq. 15 on key columns (the paper's text) or query rows (the authors' code); auto: the "
                            "checkpoint's")
    checkpoint: str = arg("", help="trained prefixes; empty: results/checkpoints/instructed/<model>[/<ablation tag>]/")
    layers: list[int] = arg(factory=list, lo=0, layer=True,
                            help="layers with prefixes; empty: the range `depth` names, scaled to the model")
    depth: str = arg("middle", choices=tuple(DEPTHS),
                     help="middle: the paper's layers 10-20 of 32; late: Table 4's 20-30 (when layers is empty)")
    n_prefix: int = arg(5, lo=1, hi=MAX_COUNT, help="prefix vectors per layer (must match the checkpoint)")
    variant: str = arg("attn", choices=VARIANTS,
                       help="attn: prefixes in attention (the paper); ffn: bottleneck adapter on the MLP ('w FFN')")
    prefix: bool = arg(True, help="off: instruction only, no trained parameters of either variant ('w/o prefix')")
    reweight: bool = arg(True, help="Eq. 15 re-weighting of the prefixes by instruction-question similarity")
    # kept: token 0 of a BOS-less tokenizer stays out of Eq. 15's span; scaled: the old way; auto: as the
    # checkpoint records (checkpoints trained before the fix scaled it; no checkpoint: kept)
    sink: str = arg("auto", choices=SINKS,
                    help="kept: token 0 of a BOS-less tokenizer stays out of Eq. 15; scaled: the old way; auto")
    # Eq. 14 when an instruction states several facts (MQuAKE's gold instruction, multi-hop retrieval): the whole
    # instruction's embedding is a blend, so a question about one of four facts scores about 0.5 where the same
    # fact alone scores 0.85, and Eq. 15 then damps that fact's columns (issue 37 item 6, results/instructed-heldout).
    # auto: instruction under compat=paper (the authors' code), else fact; a one-fact instruction gets the same sim
    similarity: str = arg("auto", choices=SIMILARITIES,
                          help="Eq. 14 sim: fact (best cosine with each stated fact), instruction (the authors'), "
                               "auto")
    alias_instruction: bool = arg(False, help="prepend \"s is also known as s'.\" (Table 9, subject-replace sets)")
    encoder: str = arg("", help="sentence encoder for similarity and retrieval; empty: the run's --encoder")
    # scores whose standard deviation gates retrieval (a standard deviation needs two)
    retrieval_top_k: int = arg(5, lo=2, hi=MAX_COUNT, help="scores whose standard deviation gates retrieval")
    retrieval_std: float = arg(0.1, lo=0,
                               help="retrieval fires when std(top-k scores, floored at retrieval_fill) > this (paper)")
    # The background score: every top-k score below it (and every missing one, while the memory holds fewer than
    # top_k edits) counts as it, so that a sparse memory (a 20-case run) spreads its scores as a dense one (the
    # authors' whole-file memory) does. Calibrated for all-MiniLM-L6-v2 on cases no table evaluates
    # (retrieval.py's docstring; python -m editors.instructed.calibrate_gate); calibrate it for another encoder.
    # With one edit in memory the gate fires when the cosine exceeds fill + 0.224.
    retrieval_fill: float = arg(BACKGROUND, lo=-1, hi=1,
                                help="background cosine: top-k scores below it and missing ones count as it "
                                     "(calibrate_gate)")
    multihop_k: int = arg(3, lo=1, hi=MAX_COUNT,
                          help="facts retrieved for multi-hop (MQuAKE) questions; compat=paper uses the gold hop count")

    def unrecorded(self, record: dict) -> dict:
        """`memory` is recorded since 2026-12-06; a retrieval run recorded before held only the edits made so far.
        `similarity` is recorded since issue 37 item 6 (2026-12-06); runs before used the whole instruction."""
        out = {"memory": "unit"} if "memory" not in record and record.get("mode") == "retrieval" else {}
        if "scaling" not in record:  # recorded since 2026-12-06; every run before used its compat's scaling
            out["scaling"] = ckpt.scaling_of(record.get("compat", "strict"))
        return out | ({"similarity": "instruction"} if "similarity" not in record else {})

    def validate(self) -> None:
        """The declared ranges (bench/arguments.py); also for a config built without build_config."""
        check_config("instructed", self)

    @property
    def per_fact(self) -> bool:
        """Whether Eq. 14 takes the best of the question's similarities with each stated fact."""
        return self.similarity == "fact" or (self.similarity == "auto" and self.compat != "paper")

    @property
    def trained(self) -> bool:
        """Whether this configuration has trained parameters (and so needs a checkpoint)."""
        return self.prefix

    def requested_layers(self, model) -> list[int]:
        """The layers asked for: `layers`, else the range `depth` names, scaled to `model`."""
        return list(self.layers) or scaled_layer_range(model, *DEPTHS[self.depth])

    def checkpoint_dir(self, lm) -> Path:
        """The checkpoint this configuration loads on `lm`: `checkpoint`, else the one discovery finds for the
        settings (a BenchError saying how to train it when there is none)."""
        if self.checkpoint:
            return Path(self.checkpoint).expanduser()
        return ckpt.discover(lm.name, self.requested_layers(lm.model), scaled_layer_range(lm.model, *PAPER_LAYERS),
                             self.n_prefix, self.variant, self.reweight, self.scaling)

    def resolved(self, lm, seed: int, editor_cls: type, protocol: str = "single") -> InstructEdConfig:
        """With the checkpoint, layers and memory the editor will run with, as it records them once loaded, so
        that a resume compares like with like (a default checkpoint is a path in config.json, not '')."""
        if not self.trained:
            return replace(self, layers=self.requested_layers(lm.model), **self.settled(protocol, None))
        directory = self.checkpoint_dir(lm)
        info = ckpt.read_info(directory)
        return replace(self, checkpoint=str(directory), layers=list(info.layers), **self.settled(protocol, info))

    def settled(self, protocol: str, info: ckpt.CheckpointInfo | None) -> dict[str, str]:
        """The `auto` settings as a run under `protocol` with checkpoint `info` (None: none) uses and records them:
        Eq. 14's similarity, the retrieval memory (only the edits made so far when sequential), and Eq. 15's
        scaling (the checkpoint's; without one, the default)."""
        memory = self.memory if self.memory != "auto" else "unit" if protocol == "sequential" else "dataset"
        scaling = self.scaling if self.scaling != "auto" else info.scaling if info else ckpt.DEFAULT_SCALING
        return {"similarity": "fact" if self.per_fact else "instruction", "memory": memory, "scaling": scaling}
